"""Price a run's counts on a profile, next to its dense equivalents priced on the same terms.

Three machines, one memory model (per sample, joules):

- ``snn``: the event-driven run. Per synaptic event: a synaptic op, a weight fetch from the memory
  that holds the projection's weights, a read-modify-write of the target membrane. Analog input
  costs the same per MAC with a MAC instead of a synaptic op. Per neuron and step: the update's
  arithmetic (integrate, compare, leak, bias, synaptic decay) and a read and write of its state.
  Per spike: the reset arithmetic, emission and routing. Static power times run time.
- ``dense_snn``: the same network run densely: every synapse every step as a MAC, with its weight
  fetch and accumulate; neuron, spike and static terms as the event-driven run.
- ``ann``: one pass of the dense network: every synapse once as a MAC, one activation per neuron.

Weight reuse (``reuse``) applies to the dense machines only; the event-driven run fetches one
weight per event. ``"none"``: every MAC fetches its weight and read-modify-writes its accumulator.
``"full"``: each weight is fetched once per pass (once per step for the dense SNN) and
accumulators stay in registers, written once per neuron.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..counts import Counts
from ..errors import ValidationError
from ..network import Network
from .layout import layout
from .neurobench import needed_recordings, neurobench_counts
from .profiles import Profile, profile as get_profile
from .report import Report

REUSE = ("none", "full")


@dataclass(frozen=True)
class Term:
    """One line of the ledger: ``count`` things at ``joules_each`` (None: the profile cannot price it)."""

    layer: str
    term: str
    category: str
    count: float
    joules_each: float | None
    constant: str
    scales: bool = False     # grows with spike activity (the break-even slope); else fixed per inference
    per_event: float = 0.0   # count per synaptic event, for terms that scale with events

    @property
    def energy(self) -> float:
        return 0.0 if self.joules_each is None else self.count * self.joules_each


def _access(prof: Profile, n_bytes: float, bits: int) -> tuple[float | None, str]:
    hit = prof.access(n_bytes, bits)
    return (None, "memory tiers") if hit is None else (hit[0], f"memory: {hit[1]}")


def _neuron_terms(prof: Profile, pop, updates: float, changed: float, spikes: float, state: tuple) -> list[Term]:
    """Per-step and per-spike terms of one neuron population, shared by the event and dense SNN."""
    name, out = pop.name, []
    lump, idle = prof.get("neuron_update"), prof.get("neuron_update_idle")
    if lump is not None and idle is not None:
        out.append(Term(name, "neuron update (active)", "neuron", changed, lump, "neuron_update"))
        out.append(Term(name, "neuron update (idle)", "neuron", updates - changed, idle, "neuron_update_idle"))
    elif lump is not None:
        out.append(Term(name, "neuron update", "neuron", updates, lump, "neuron_update"))
    else:
        add, mul = prof.get("add"), prof.get("mul")
        each = None if add is None or (pop.muls and mul is None) else pop.adds * add + pop.muls * (mul or 0.0)
        out.append(Term(name, f"neuron arithmetic ({pop.adds} add, {pop.muls} mul)", "neuron", updates, each,
                        "add, mul" if pop.muls else "add"))
        if pop.reset_adds:
            out.append(Term(name, "reset", "neuron", spikes, add, "add", scales=True))
    each, where = state
    out.append(Term(name, f"state read+write ({pop.state_words} words)", "memory",
                    updates * pop.state_words * 2, each, where))
    return out


def _communication(prof: Profile, name: str, spikes: float) -> list[Term]:
    return [Term(name, "spike emission", "communication", spikes, prof.get("spike"), "spike", scales=True),
            Term(name, "routing", "communication", spikes, prof.get("route"), "route", scales=True)]


def _static(prof: Profile, steps: int) -> list[Term]:
    power, step = prof.get("static_power"), prof.get("step_time")
    if power is None:
        return []
    return [Term("network", "static power x run time", "static", steps * (step or 0.0), power if step else None,
                 "static_power, step_time")]


def _population_terms(prof: Profile, populations: dict, counts: Counts) -> list[Term]:
    """Neuron, state, spike and static terms: the same for the event-driven and the dense SNN."""
    tot, b, out = counts.totals(), counts.batch, []
    for name, pop in populations.items():
        spikes = tot["spikes"][name] / b
        if not pop.is_input:
            state = _access(prof, pop.size * pop.state_words * prof.state_bits / 8, prof.state_bits)
            out += _neuron_terms(prof, pop, tot["neuron_updates"][name] / b, tot["membrane_updates"][name] / b,
                                 spikes, state)
        out += _communication(prof, name, spikes)
    return out + _static(prof, counts.steps)


def snn_terms(counts: Counts, lay: tuple, prof: Profile) -> list[Term]:
    """The event-driven run's ledger; ``lay`` is ``layout(net)``."""
    projections, populations = lay
    tot, b = counts.totals(), counts.batch
    if prof.all_in:
        out = []
        for q in counts.projections:
            out.append(Term(q, "synaptic ops (all-in)", "compute", tot["synaptic_events"][q] / b,
                            prof.get("synaptic_op"), "synaptic_op", scales=True, per_event=1))
            out.append(Term(q, "analog MACs", "compute", tot["effective_macs"][q] / b, None, "mac"))
        return out
    out = []
    for q in counts.projections:
        proj = projections[q]
        events, macs = tot["synaptic_events"][q] / b, tot["effective_macs"][q] / b
        analog = macs > 0
        fetch = _access(prof, proj.stored_weights * prof.weight_bits / 8, prof.weight_bits)
        post = populations[proj.post]
        rmw = _access(prof, post.size * post.state_words * prof.state_bits / 8, prof.state_bits)
        stored = bool(proj.stored_weights)
        out += [Term(q, "synaptic ops", "compute", events, prof.get("synaptic_op"), "synaptic_op", scales=True,
                     per_event=1),
                Term(q, "analog MACs", "compute", macs, prof.get("mac"), "mac"),
                Term(q, "weight fetch", "memory", (events + macs) * stored, *fetch, scales=not analog,
                     per_event=float(stored and not analog)),
                Term(q, "membrane read-modify-write", "memory", (events + macs) * 2, *rmw, scales=not analog,
                     per_event=0.0 if analog else 2.0)]
    return out + _population_terms(prof, populations, counts)


def dense_terms(counts: Counts, lay: tuple, prof: Profile, reuse: str, ann: bool) -> list[Term]:
    """The ANN (``ann=True``, one pass) or the SNN run densely (every synapse every step)."""
    projections, populations = lay
    passes = 1 if ann else counts.steps
    out = []
    for q, proj in projections.items():
        post = populations[proj.post]
        macs = proj.dense_per_step * passes
        fetch = _access(prof, proj.stored_weights * prof.weight_bits / 8, prof.weight_bits)
        state = _access(prof, post.size * post.state_words * prof.state_bits / 8, prof.state_bits)
        fetches = macs if reuse == "none" else proj.stored_weights * passes
        out += [Term(q, "MACs", "compute", macs, prof.get("mac"), "mac"),
                Term(q, "weight fetch", "memory", fetches if proj.stored_weights else 0, *fetch)]
        if reuse == "none":
            out.append(Term(q, "accumulator read-modify-write", "memory", macs * 2, *state))
        else:
            out.append(Term(q, "accumulator write", "memory", post.size * passes, *state))
    if not ann:
        return out + _population_terms(prof, populations, counts)
    lump, add = prof.get("neuron_update"), prof.get("add")
    for name, pop in populations.items():
        if pop.is_input:
            continue
        if lump is not None:
            out.append(Term(name, "activation", "neuron", pop.size, lump, "neuron_update"))
        else:
            out.append(Term(name, f"activation ({pop.ann_adds} add)", "neuron", pop.size,
                            None if add is None else pop.ann_adds * add, "add"))
    return out


def price(result, net: Network, profile="horowitz45-fp32", *, reuse: str = "none", stimulus=None, measured=None):
    """Price a run (a ``RunResult`` or its ``Counts``) of ``net`` on ``profile``; returns a :class:`Report`.

    ``stimulus``: the run's input, needed for NeuroBench's pooled-MAC counts only when the input
    population feeds a pool. ``measured``: a :class:`~spiking.energy.meters.Measurement` to show.
    """
    if reuse not in REUSE:
        raise ValidationError(f"reuse must be one of {REUSE}, got {reuse!r}")
    counts = result if isinstance(result, Counts) else getattr(result, "counts", None)
    if not isinstance(counts, Counts):
        raise ValidationError(f"price needs a RunResult or Counts, got {type(result).__name__}")
    sizes = np.array([0 if p.is_input else p.size for p in net.order]) * counts.batch
    if (counts.projections != tuple(net.projections) or counts.populations != tuple(p.name for p in net.order)
            or (counts.neuron_updates != sizes).any()):
        raise ValidationError("counts do not belong to this network: projections "
                              f"{counts.projections} vs {tuple(net.projections)}, neuron updates per step "
                              f"{counts.neuron_updates[0].tolist()} vs {sizes.tolist()}")
    prof = get_profile(profile)
    dense_reason = None
    if prof.all_in:
        dense_reason = f"profile '{prof.name}' is all-in per synaptic event and has no MAC cost"
    elif prof.get("mac") is None:
        dense_reason = f"profile '{prof.name}' has no 'mac' constant"
    lay = layout(net)
    ann = dense_snn = None
    if dense_reason is None:
        ann = dense_terms(counts, lay, prof, reuse, ann=True)
        dense_snn = dense_terms(counts, lay, prof, reuse, ann=False)
    nb = None
    if counts is not result and not needed_recordings(net, result, stimulus):
        nb = neurobench_counts(net, result, stimulus)
    return Report(prof, counts, lay, reuse, snn_terms(counts, lay, prof), ann, dense_snn, dense_reason, nb, measured)
