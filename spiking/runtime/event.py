"""The event-driven backend: one call of the fused numba kernel per run."""
from __future__ import annotations

import threading

import numba
import numpy as np

from ..counts import Counts
from ..kernels.network import run_samples
from .compile import Plan, check_fixed_stimulus
from .result import RunResult
from .stimulus import Stimulus


def run_event(plan: Plan, stim: Stimulus | None, steps: int, batch: int, record: tuple,
              record_membrane: bool) -> RunResult:
    """Run a compiled network on a validated stimulus (see ``spiking.runtime.run``).

    Currents, state and activity values are float32, or int64 for a network in integer arithmetic.
    """
    acc = np.int64 if plan.fixed else np.float32
    if plan.fixed:
        check_fixed_stimulus(stim)
    n_pop = len(plan.names)
    n_proj = len(plan.projection_names)
    rec_off = np.full(n_pop, -1, np.int64)
    n_rec = 0
    for name in record:
        k = plan.names.index(name)
        rec_off[k] = n_rec
        n_rec += int(plan.start[k + 1] - plan.start[k])
    out = plan.output_pop
    n_out = int(plan.start[out + 1] - plan.start[out])
    rec = np.zeros((batch, steps, n_rec), np.uint8)
    mem_trace = np.zeros((batch, steps if record_membrane else 0, n_out), acc)
    out_spikes = np.zeros((batch, n_out), np.int64)
    out_mem = np.zeros((batch, n_out), acc)
    events = np.zeros((batch, steps, n_proj), np.int64)
    macs = np.zeros((batch, steps, n_proj), np.int64)
    spikes = np.zeros((batch, steps, n_pop), np.int64)
    mem_updates = np.zeros((batch, steps, n_pop), np.int64)
    if stim is None:
        stim = Stimulus(1, batch, (1,), np.zeros(batch + 1, np.int64), np.zeros(0, np.int64),
                        np.zeros(0, np.float32), False, True)
    n = plan.n_neurons
    n_inh = n if plan.has_inh.any() else 0
    n_gated = n if len(plan.gate_window) else 0
    inp = plan.input_pop
    n_held = int(plan.out_ptr[inp + 1] - plan.out_ptr[inp]) if stim.constant and inp >= 0 else 0

    def buffers():
        """One thread's state and scratch vectors (see ``kernels.network.run_sample``)."""
        return (np.zeros((plan.n_slots, n), acc), np.zeros((plan.n_slots, n_inh), acc), np.zeros(n, acc),
                np.zeros(n, acc), np.zeros(n_inh, acc), np.zeros(n_inh, acc), np.zeros(n, np.int64),
                np.zeros(n, np.uint8), np.zeros(n, np.int64), np.zeros(n, acc), np.zeros(len(plan.gate_window), acc),
                np.zeros(plan.n_gate_best, acc), np.zeros(n_gated, np.int64), np.zeros(n_gated, acc),
                np.zeros((n_held, n), acc))
    args = (steps, plan.start, plan.input_pop, out, plan.reset_mode, plan.has_refractory, plan.has_inh,
            plan.uniform, plan.neuron, plan.refractory, plan.proj_post, plan.proj_kind, plan.proj_delay,
            plan.proj_inh, plan.proj_woff, plan.proj_fanoff, plan.out_ptr, plan.out_proj, plan.dense_w,
            plan.dense_codes, plan.code_scale, plan.proj_scale_off, plan.proj_exact, plan.csr_ptr, plan.csr_post,
            plan.csr_val, plan.conv_par, plan.conv_w, plan.conv_scale, plan.fanout, plan.conv_pre, plan.gate_off,
            plan.gate_window, plan.gate_best_off, stim.ptr, stim.index, stim.value.astype(acc, copy=False),
            0 if stim.constant else stim.steps, stim.analog, rec_off)
    outputs = (out_spikes, out_mem, rec, mem_trace, events, macs, spikes, mem_updates)
    _run_threaded(batch, args, buffers, outputs)
    shape = plan.shapes[out]
    recorded = {}
    for name in record:
        k = plan.names.index(name)
        size = int(plan.start[k + 1] - plan.start[k])
        block = _c_order(rec[:, :, rec_off[k]:rec_off[k] + size], plan.perm[k])
        recorded[name] = np.ascontiguousarray(block.transpose(1, 0, 2)).reshape((steps, batch) + plan.shapes[k])
    updates = (plan.start[1:] - plan.start[:-1]) * batch
    if plan.input_pop >= 0:
        updates[plan.input_pop] = 0
    counts = Counts(
        projections=plan.projection_names, populations=plan.names, batch=batch,
        synaptic_events=events.sum(axis=0), effective_macs=macs.sum(axis=0),
        dense_macs=_every_step(plan.proj_dense_macs * batch, steps), spikes=spikes.sum(axis=0),
        neuron_updates=_every_step(updates, steps), membrane_updates=mem_updates.sum(axis=0))
    trace = None
    if record_membrane:
        trace = _c_order(mem_trace, plan.perm[out]).transpose(1, 0, 2).reshape((steps, batch) + shape)
    return RunResult(plan.names[out], _c_order(out_spikes, plan.perm[out]).reshape((batch,) + shape),
                     _c_order(out_mem, plan.perm[out]).reshape((batch,) + shape), trace, recorded, counts)


def _run_threaded(batch: int, args, buffers, outputs) -> None:
    """Split the batch into contiguous blocks, one per thread (``numba.get_num_threads()``), each
    with its own ``buffers()``.

    The kernel releases the GIL; the calling thread runs the first block itself.
    """
    workers = min(batch, numba.get_num_threads())
    if workers == 1:
        run_samples(0, batch, args, buffers(), outputs)
        return
    bounds = np.linspace(0, batch, workers + 1).astype(int)
    threads = [threading.Thread(target=run_samples, args=(lo, hi, args, buffers(), outputs))
               for lo, hi in zip(bounds[1:-1], bounds[2:])]
    for thread in threads:
        thread.start()
    run_samples(0, bounds[1], args, buffers(), outputs)
    for thread in threads:
        thread.join()


def _every_step(values: np.ndarray, steps: int) -> np.ndarray:
    """``values`` repeated as ``[steps, len(values)]``."""
    out = np.empty((steps, len(values)), values.dtype)
    out[:] = values
    return out


def _c_order(values: np.ndarray, perm: np.ndarray) -> np.ndarray:
    """Reorder the last axis from the kernel's internal layout to C order."""
    out = np.empty_like(values)
    out[..., perm] = values
    return out
