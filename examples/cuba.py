"""The CUBA benchmark of Brette et al. (2007), as Brian2's ``examples/CUBA.py`` defines it, event-driven.

4,000 current-based LIF neurons (3,200 excitatory, 800 inhibitory), Bernoulli connectivity p = 0.02
between every ordered pair (self-connections included), no external input (E_l lies above the
threshold, so the neurons drive themselves), 1 s at dt = 0.1 ms = 10,000 steps. Brian2's model::

    dv/dt  = (ge + gi - (v - E_l)) / tau_m     (v held while refractory)
    dge/dt = -ge / tau_e        dgi/dt = -gi / tau_i
    v > V_t: v = V_r, refractory 5 ms;   spike of i < 3200: ge += w_e;   of i >= 3200: gi += w_i

with tau_m 20, tau_e 5, tau_i 10 ms; V_t -50, V_r -60, E_l -49 mV; w_e 1.62, w_i -9 mV; integrated
exactly (``method='exact'``). The mapping onto ``spiking.CubaLIF`` (facts:
``../shared/reference/neuron-semantics.md`` section 5):

- Voltages shift by -V_r, because our threshold must be positive: v' = v - V_r, so the reset is 0,
  the threshold 10 and the leak E_l 11 (mV); ``reset="hard"``. Initial v' is uniform in [0, 10).
- Brian2 updates, thresholds, then adds the step's spikes to ge/gi, which act from the next step's
  update on. Our recurrent projections have delay 1: a spike at step t enters its synaptic current
  at step t+1 and acts in that step's update. With beta = exp(-dt/tau_m) and alpha = exp(-dt/tau_s),
  the update ``syn = alpha syn + I; v = E_l + beta (v - E_l) + syn`` is then the *exact* solution of
  an exponential current over a step, not an Euler step, when a spike adds
  ``k(tau_s) w`` to ``syn`` with ``k(tau_s) = tau_s / (tau_m - tau_s) (beta - alpha)`` (about dt/tau_m):
  the integral over one step of the membrane's response to the current ``w exp(-s/tau_s)``.
- Refractory: Brian2 holds v for every update while fewer than 50 steps have passed since the spike
  and integrates again at spike step + 50. Our neuron stores the spike step's membrane (delayed
  reset), sets v = v_reset at the next step and holds it for ``refractory`` steps, integrating again
  at spike step + refractory + 1; so ``refractory = 49``. The synaptic current keeps decaying and
  receiving input meanwhile, as ge/gi do in Brian2.
- Two synaptic currents, as Brian2's ge and gi: excitatory spikes feed ``syn`` (alpha =
  exp(-dt/tau_e)), inhibitory spikes feed the second current (``receptor="inh"``, alpha_inh =
  exp(-dt/tau_i)); each spike adds ``k(tau_s) w`` to its current, so both PSPs are Brian2's exact
  ones. Two sparse projections, stored by presynaptic neuron, carry the about 320,000 synapses.

Prints the mean firing rate (Hz) and the wall-clock time (s) of a 1-s simulation, the fastest of
``--repeat`` runs of the compiled network; numba compilation is excluded by a short run first.
``--brian2`` also runs ``../shared/tools/brian2_cuba.py`` (C++ standalone, one thread, its time
excludes C++ compilation) through ``.brian2-env/bin/python``, one run after each round of ours
(a warm-up run, then the timed one), so that both see the same machine, and prints its rate and
fastest time below ours.

    python examples/cuba.py [--duration 1.0] [--seed 1] [--repeat 3] [--brian2]
"""
from __future__ import annotations

import argparse
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import spiking as sp

DT = 0.1                             # ms
TAU_M, TAU_E, TAU_I = 20.0, 5.0, 10.0  # ms
V_T, V_R, E_L = -50.0, -60.0, -49.0    # mV
W_E, W_I = 60 * 0.27 / 10, -20 * 4.5 / 10  # mV: 1.62, -9
REFRACTORY_MS = 5.0

ROOT = Path(__file__).resolve().parent.parent
BRIAN2_SCRIPT = ROOT.parent / "shared" / "tools" / "brian2_cuba.py"
BRIAN2_PYTHON = ROOT / ".brian2-env" / "bin" / "python"


def psc_gain(tau_s: float, dt: float = DT) -> float:
    """k(tau_s): what a current of 1 mV at a step's start, decaying with tau_s, adds to v by its end."""
    beta, alpha = math.exp(-dt / TAU_M), math.exp(-dt / tau_s)
    return tau_s / (TAU_M - tau_s) * (beta - alpha)


def synaptic_weights(dt: float = DT) -> tuple[float, float]:
    """Increments of the excitatory and inhibitory synaptic currents per spike."""
    return W_E * psc_gain(TAU_E, dt=dt), W_I * psc_gain(TAU_I, dt=dt)


def cuba_neuron(v_init, dt: float = DT) -> sp.CubaLIF:
    """Brian2's CUBA neuron in shifted voltages v - V_r, with tau_e and tau_i synaptic currents."""
    return sp.CubaLIF(
        v_threshold=V_T - V_R, reset="hard", v_reset=0.0, v_leak=E_L - V_R,
        beta=math.exp(-dt / TAU_M), alpha=math.exp(-dt / TAU_E), alpha_inh=math.exp(-dt / TAU_I),
        refractory=round(REFRACTORY_MS / dt) - 1, v_init=v_init)


def cuba_network(n: int = 4000, n_exc: int | None = None, p: float = 0.02, seed: int = 1,
                 weights: tuple[float, float] | None = None, dt: float = DT) -> sp.Network:
    """The CUBA network with ``n`` neurons, the first ``n_exc`` (default 80 %) excitatory.

    ``weights`` overrides the (excitatory, inhibitory) current increments, e.g. with dyadic values
    for bit-exact backend comparisons.
    """
    n_exc = int(0.8 * n) if n_exc is None else n_exc
    rng = np.random.default_rng(seed)
    connected = rng.random((n, n), dtype=np.float32) < p          # [pre, post]
    w_exc, w_inh = synaptic_weights(dt) if weights is None else weights
    net = sp.Network()
    net.population("P", cuba_neuron(rng.random(n) * (V_T - V_R), dt), (n,))
    for name, rows, w in (("excitatory", slice(0, n_exc), w_exc), ("inhibitory", slice(n_exc, n), w_inh)):
        block = np.zeros((n, n), np.float32)                       # [pre, post], only this type's rows
        block[rows] = connected[rows] * np.float32(w)
        net.connect("P", "P", sp.Sparse.from_dense(block.T), delay=1, name=name,
                    receptor="exc" if name == "excitatory" else "inh")
    return net


def mean_rate(result: sp.RunResult, n: int, seconds: float) -> float:
    """Spikes per neuron per second over the run."""
    return float(result.output_spikes.sum()) / n / seconds


def cuba_runner(duration: float, seed: int):
    """The network and a function that runs it once, returning (seconds, result); compilation done."""
    net = cuba_network(seed=seed)
    plan = sp.compile_network(net)
    steps = round(duration * 1000 / DT)
    sp.run(net, steps=10, plan=plan)                   # compile (or load) the numba kernels

    def once() -> tuple[float, sp.RunResult]:
        t0 = time.perf_counter()
        res = sp.run(net, steps=steps, plan=plan)
        return time.perf_counter() - t0, res
    return net, once


def brian2_once() -> tuple[float, float]:
    """Brian2's (rate Hz, run time s) of one run; RuntimeError saying why where it cannot run."""
    if not BRIAN2_SCRIPT.exists():
        raise RuntimeError(f"missing {BRIAN2_SCRIPT} (needs ../shared)")
    if not BRIAN2_PYTHON.exists():
        raise RuntimeError(f"missing {BRIAN2_PYTHON}; see ../shared/tools/README.md")
    out = subprocess.run([str(BRIAN2_PYTHON), str(BRIAN2_SCRIPT)], capture_output=True, text=True, cwd=ROOT)
    if out.returncode:
        raise RuntimeError(f"brian2_cuba.py failed: {(out.stderr.strip().splitlines() or ['?'])[-1]}")
    rate, seconds = map(float, out.stdout.split()[-2:])
    return rate, seconds


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=1.0, help="biological time in seconds (default 1)")
    ap.add_argument("--seed", type=int, default=1, help="connectivity and initial-state seed")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs of each simulator; the fastest is reported")
    ap.add_argument("--brian2", action="store_true", help="also run Brian2 C++ standalone (1 s, its own seed), "
                                                          "alternating with ours")
    args = ap.parse_args(argv)
    net, once = cuba_runner(args.duration, args.seed)
    ours, theirs, brian2_rate, why = [], [], math.nan, None
    for _ in range(args.repeat):
        once()                                          # warm: the other simulator ran in between
        seconds, res = once()
        ours.append(seconds)
        if args.brian2 and why is None:
            try:
                brian2_rate, seconds = brian2_once()
                theirs.append(seconds)
            except RuntimeError as e:
                why = str(e)
    rate = mean_rate(res, net.populations["P"].size, args.duration)
    print(f"spiking  rate {rate:.3f} Hz  run {min(ours):.4f} s  ({int(res.counts.synaptic_events.sum())} synaptic events)")
    if args.brian2:
        print(f"brian2   rate {brian2_rate:.3f} Hz  run {min(theirs):.4f} s" if theirs else f"brian2   {why}")


if __name__ == "__main__":
    main(sys.argv[1:])
