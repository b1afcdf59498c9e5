"""Shared test helpers: dyadic values, random neurons and stimuli, and running both backends.

Dyadic values (multiples of 1/256 with |w| <= 1, and dyadic neuron parameters) keep every partial
sum of synaptic current exact in float32, whatever the summation order, so the event and dense
backends must agree bit for bit (``../shared/reference/neuron-semantics.md`` section 6).
"""
from __future__ import annotations

import numpy as np

import spiking as sp

MODELS = {"IF": sp.IF, "LIF": sp.LIF, "CubaLIF": sp.CubaLIF}
RESETS = ("subtract", "hard", "none")
STIMULI = ("binary", "counts", "constant", "per_step")


def dyadic(rng: np.random.Generator, shape, density: float = 0.75, max_k: int = 256) -> np.ndarray:
    """float32 weights k/256, |k| <= max_k, each non-zero with probability ``density``."""
    k = rng.integers(-max_k, max_k + 1, size=shape)
    return (k * (rng.random(shape) < density) / 256).astype(np.float32)


def _param(rng: np.random.Generator, choices, shape, per_neuron: bool):
    """One of ``choices``, or one choice per neuron (shaped like the population or flat)."""
    if not per_neuron:
        return float(rng.choice(choices))
    size = int(np.prod(shape))
    arr = rng.choice(np.asarray(choices, np.float64), size=size)
    return arr.reshape(shape) if rng.random() < 0.5 else arr


def random_neuron(rng: np.random.Generator, model: str, reset: str, shape, per_neuron: bool = False,
                  refractory: int = 0) -> sp.IF:
    """A neuron of ``model`` with dyadic parameters chosen to make spiking likely."""
    kw = dict(
        reset=reset,
        v_threshold=_param(rng, [0.5, 0.75, 1.0, 1.25], shape, per_neuron),
        v_reset=_param(rng, [0.0, 0.0, -0.25, 0.125], shape, per_neuron),
        bias=_param(rng, [0.0, 0.0, 0.125, -0.0625, 0.25], shape, per_neuron),
        v_init=_param(rng, [0.0, 0.0, 0.25, -0.5], shape, per_neuron),
        refractory=(_param(rng, list(range(refractory + 1)), shape, per_neuron) if per_neuron and refractory
                    else refractory),
    )
    if model != "IF":
        kw["beta"] = _param(rng, [0.5, 0.75, 0.875, 1.0], shape, per_neuron)
        kw["v_leak"] = _param(rng, [0.0, 0.125, -0.25], shape, per_neuron)
    if model == "CubaLIF":
        kw["alpha"] = _param(rng, [0.25, 0.5, 0.75], shape, per_neuron)
        kw["alpha_inh"] = _param(rng, [0.0, 0.5, 0.875], shape, per_neuron)
    return MODELS[model](**kw)


def random_stimulus(rng: np.random.Generator, kind: str, steps: int, batch: int, shape) -> sp.Stimulus:
    """Binary spikes, spike counts up to 3, or dyadic analog currents (constant or per step)."""
    full = (steps, batch) + tuple(shape)
    if kind == "binary":
        return sp.spikes((rng.random(full) < 0.4).astype(np.uint8))
    if kind == "counts":
        return sp.spikes(rng.integers(0, 4, full) * (rng.random(full) < 0.5))
    if kind == "constant":
        return sp.currents(dyadic(rng, (batch,) + tuple(shape), density=0.7, max_k=512))
    if kind == "per_step":
        return sp.currents(dyadic(rng, full, density=0.6, max_k=512), per_step=True)
    raise ValueError(kind)


def recordable(net: sp.Network, stim: sp.Stimulus | None) -> list[str]:
    """Every population whose spikes a run can record: all but an input fed analog currents."""
    analog = stim is not None and stim.analog
    return [p.name for p in net.populations.values() if not (analog and p.is_input)]


def run_both(net: sp.Network, stim: sp.Stimulus | None, steps: int | None = None, batch: int | None = None):
    """Run both backends recording every population (an analog input excepted) and the output membrane trace."""
    kw = dict(steps=steps, batch=batch, record=recordable(net, stim), record_membrane=True)
    return sp.run(net, stim, backend="event", **kw), sp.run(net, stim, backend="dense", **kw)


def assert_identical(ev: sp.RunResult, de: sp.RunResult) -> None:
    """Every output of the two backends is bit-identical."""
    assert ev.output == de.output
    for key in ("output_spikes", "membrane", "membrane_trace"):
        a, b = getattr(ev, key), getattr(de, key)
        assert a.shape == b.shape and a.dtype == b.dtype, key
        assert np.array_equal(a, b), f"{key} differs at {np.argwhere(a != b)[:5].tolist()}"
    assert ev.recorded.keys() == de.recorded.keys()
    for name in ev.recorded:
        a, b = ev.recorded[name], de.recorded[name]
        assert a.shape == b.shape, name
        assert np.array_equal(a, b), f"spikes of '{name}' differ at {np.argwhere(a != b)[:5].tolist()}"
    assert ev.counts == de.counts, _counts_diff(ev.counts, de.counts)


def _counts_diff(a: sp.Counts, b: sp.Counts) -> str:
    ta, tb = a.totals(), b.totals()
    return "; ".join(f"{k}: event {ta[k]} dense {tb[k]}" for k in ta if ta[k] != tb[k]) or "per-step counts differ"


def single_neuron(neuron: sp.IF, weight: float = 1.0) -> sp.Network:
    """One input channel into one neuron through a weight: the smallest network to check by hand."""
    net = sp.Network()
    net.input("in", (1,))
    net.population("n", neuron, (1,))
    net.connect("in", "n", sp.Linear(np.array([[weight]], np.float32)))
    return net


def drive(values) -> sp.Stimulus:
    """A per-step current sequence for a single-input network, batch 1."""
    return sp.currents(np.asarray(values, np.float32).reshape(-1, 1, 1), per_step=True)
