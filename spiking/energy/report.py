"""The priced ledger: a readable table, JSON, break-even activities and a plot of energy against activity."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from ..files import replacing

CATEGORIES = ("compute", "neuron", "memory", "communication", "static")
ASSUMPTIONS = (
    "Energies are per sample (one inference of all steps); counts are summed over steps and divided by the batch.",
    "A weight fetch reads weight_bits from the smallest memory tier holding the projection's stored weights; "
    "a narrower word costs its share of the tier's access energy; a write costs as much as a read.",
    "Neuron state (membrane, plus synaptic current for CubaLIF) sits in the smallest tier holding the "
    "population's state at state_bits per word.",
    "Dense equivalents are priced at the profile's precision (the same weight_bits and state_bits as the SNN).",
    "The ANN's static energy is not priced (its latency on the device is unknown).",
)


@dataclass(frozen=True)
class BreakEven:
    """Energy of one layer (or the network) as a line in activity, against its dense ANN.

    ``snn(a) = fixed + slope * a`` with ``a`` the synaptic events per synapse per step (events over
    NeuroBench Dense): the line through the terms that do not grow with spikes (``fixed``) and this
    run, every event and spike term scaled in proportion to activity, layers keeping this run's
    shares. Without activity in the run, the slope holds the per-event terms at uniform activity
    and no spike terms. ``activity`` is this run's; ``break_even`` the activity where ``snn(a)``
    equals ``ann`` (None where there is no ANN price, negative where fixed costs alone exceed it);
    ``break_even_rate`` the same as spikes per presynaptic neuron per step, for uniform rates.
    """

    layer: str
    activity: float
    fixed: float
    slope: float
    ann: float | None
    dense_snn: float | None
    break_even: float | None
    break_even_rate: float | None

    def snn(self, a: float) -> float:
        return self.fixed + self.slope * a


class Report:
    """Energy of one run on one profile, per layer and term, next to its dense equivalents."""

    def __init__(self, profile, counts, lay, reuse, snn, ann, dense_snn, dense_reason, neurobench, measured):
        self.profile, self.counts, self.reuse = profile, counts, reuse
        self.terms = {"snn": snn, "ann": ann, "dense_snn": dense_snn}
        self.dense_reason = dense_reason
        self.neurobench = neurobench
        self.measured = measured
        self._projections, self._populations = lay
        self.break_even = self._break_even()

    # -- totals ---------------------------------------------------------------------------------
    def total(self, machine: str = "snn", category: str | None = None) -> float | None:
        """Joules per sample of ``machine`` (``snn``, ``dense_snn``, ``ann``), optionally one category."""
        terms = self.terms[machine]
        if terms is None:
            return None
        return sum(t.energy for t in terms if category is None or t.category == category)

    @property
    def compute_only(self) -> float:
        """Synaptic ops alone: the figure most papers report."""
        return sum(t.energy for t in self.terms["snn"] if t.term.startswith("synaptic ops"))

    @property
    def analog_macs(self) -> float:
        return sum(t.energy for t in self.terms["snn"] if t.term == "analog MACs")

    def unpriced(self) -> dict[str, str]:
        """Terms with a non-zero count that the profile cannot price, and why."""
        out = {}
        for t in self.terms["snn"]:
            if t.joules_each is None and t.count:
                inside = self.profile.all_in and t.term != "analog MACs"
                out[t.term] = (f"included in the all-in '{t.constant}'" if inside
                               else f"profile '{self.profile.name}' has no {t.constant}")
        return out

    # -- break-even -----------------------------------------------------------------------------
    def _line(self, name: str, projections: list, layers: set) -> BreakEven:
        tot = self.counts.totals()
        spiking = [q for q in projections if tot["effective_macs"][q] == 0]
        b = self.counts.batch
        dense = sum(self._projections[q].dense_per_step for q in spiking) * self.counts.steps
        events = sum(tot["synaptic_events"][q] for q in spiking) / b
        activity = events / dense if dense else 0.0
        snn = [t for t in self.terms["snn"] if t.layer in layers]
        fixed = sum(t.energy for t in snn if not t.scales)
        if activity:
            slope = sum(t.energy for t in snn if t.scales) / activity
        else:
            slope = sum(self._projections[q].dense_per_step * self.counts.steps * (t.joules_each or 0.0) * t.per_event
                        for q in spiking for t in snn if t.layer == q)
        ann = None if self.terms["ann"] is None else sum(t.energy for t in self.terms["ann"] if t.layer in layers)
        dsnn = (None if self.terms["dense_snn"] is None
                else sum(t.energy for t in self.terms["dense_snn"] if t.layer in layers))
        be = rate = None
        if ann is not None and slope > 0:
            be = (ann - fixed) / slope
            synapses = sum(self._projections[q].synapses for q in spiking)
            per_step = sum(self._projections[q].dense_per_step for q in spiking)
            rate = be * per_step / synapses if synapses else None
        return BreakEven(name, activity, fixed, slope, ann, dsnn, be, rate)

    def _break_even(self) -> dict[str, BreakEven]:
        out = {}
        for name, pop in self._populations.items():
            if pop.is_input:
                continue
            incoming = [q for q, p in self._projections.items() if p.post == name]
            out[name] = self._line(name, incoming, set(incoming) | {name})
        everything = set(self._projections) | set(self._populations) | {"network"}
        out["network"] = self._line("network", list(self._projections), everything)
        return out

    # -- output ---------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        p = self.profile
        return dict(
            profile=dict(name=p.name, description=p.description, all_in=p.all_in, weight_bits=p.weight_bits,
                         state_bits=p.state_bits, constants=[asdict(c) for c in p.provenance()]),
            batch=self.counts.batch, steps=self.counts.steps, reuse=self.reuse, unit="J per sample",
            totals=dict(compute_only=self.compute_only, analog_macs=self.analog_macs,
                        by_category={c: self.total("snn", c) for c in CATEGORIES},
                        snn=self.total("snn"), dense_snn=self.total("dense_snn"), ann=self.total("ann")),
            dense_reason=self.dense_reason,
            terms={m: None if t is None else [dict(asdict(x), energy=x.energy) for x in t]
                   for m, t in self.terms.items()},
            break_even={k: asdict(v) for k, v in self.break_even.items()},
            unpriced=self.unpriced(), neurobench=self.neurobench,
            measured=None if self.measured is None else self.measured.to_dict(),
            assumptions=list(ASSUMPTIONS) + [_reuse_text(self.reuse)],
        )

    def to_json(self, path=None) -> str:
        """The report as JSON; with ``path``, also written there (atomically)."""
        text = json.dumps(self.to_dict(), indent=1)
        if path is not None:
            with replacing(path) as tmp, open(tmp, "x", encoding="utf-8") as f:
                f.write(text)
        return text

    def table(self) -> str:
        p, c = self.profile, self.counts
        bits = f"; weights {p.weight_bits} bit, state {p.state_bits} bit" if p.memory else ""
        lines = [f"energy on '{p.name}': {p.description}",
                 f"joules per sample ({c.batch} samples, {c.steps} steps){bits}",
                 "", f"{'layer':<20}{'term':<40}{'count':>14}{'J each':>11}{'energy J':>11}"]
        for t in self.terms["snn"]:
            if t.count and t.joules_each is not None:
                lines.append(f"{t.layer:<20}{t.term:<40}{t.count:>14.1f}{t.joules_each:>11.3g}{t.energy:>11.3g}")
        lines += ["", "totals (J per sample)",
                  f"  compute-only (synaptic ops)      {self.compute_only:.4g}",
                  f"  analog MACs (own line)           {self.analog_macs:.4g}"]
        lines += [f"  {cat:<33}{self.total('snn', cat):.4g}" for cat in CATEGORIES]
        lines.append(f"  memory-inclusive total           {self.total('snn'):.4g}")
        if self.measured is not None:
            lines.append(f"  measured                         {self.measured.describe()}")
        else:
            lines.append("  measured                         none: modeled figures only")
        lines += ["", f"dense equivalents (same profile and memory model; {_reuse_text(self.reuse)})"]
        if self.terms["ann"] is None:
            lines.append(f"  not priced: {self.dense_reason}")
        else:
            snn = self.total("snn")
            for label, m in (("ANN, one pass", "ann"), ("SNN run densely", "dense_snn")):
                lines.append(f"  {label:<33}{self.total(m):.4g}   SNN / this = {snn / self.total(m):.3g}")
        lines += ["", f"{'layer':<20}{'activity':>10}{'SNN J':>11}{'ANN J':>11}{'SNN/ANN':>9}"
                      f"{'break-even':>12}{'(spike rate)':>14}"]
        for name, be in self.break_even.items():
            snn = be.snn(be.activity)
            ann = "-" if be.ann is None else f"{be.ann:.3g}"
            ratio = "-" if not be.ann else f"{snn / be.ann:.3g}"
            brk = "-" if be.break_even is None else (f"{be.break_even:.4g}" if be.break_even >= 0 else "never")
            rate = "-" if be.break_even_rate is None or be.break_even is None or be.break_even < 0 \
                else f"{be.break_even_rate:.4g}"
            lines.append(f"{name:<20}{be.activity:>10.4f}{snn:>11.3g}{ann:>11}{ratio:>9}{brk:>12}{rate:>14}")
        if self.neurobench is not None:
            lines += ["", "NeuroBench counts per sample (MACs of pooled values where a pool precedes the weights)",
                      f"{'projection':<20}{'Effective_ACs':>16}{'Effective_MACs':>16}{'Dense':>14}"
                      f"{'runtime events':>16}"]
            tot = c.totals()
            for q in c.projections:
                r = self.neurobench[q]
                lines.append(f"{q:<20}{r['effective_acs']:>16.1f}{r['effective_macs']:>16.1f}{r['dense']:>14.1f}"
                             f"{tot['synaptic_events'][q] / c.batch:>16.1f}")
            lines.append(f"MembraneUpdates {self.neurobench['membrane_updates']:.1f}")
        unpriced = self.unpriced()
        if unpriced:
            lines += ["", "not priced (left out of every total)"] + [f"  {k}: {v}" for k, v in unpriced.items()]
        lines += ["", "assumptions"] + [f"  - {a}" for a in ASSUMPTIONS + (_reuse_text(self.reuse),)]
        lines += ["", "sources"]
        for k in p.provenance():
            lines.append(f"  {k.name:<20}{k.value:>10.3g} {k.unit:<2} {k.scope:<9}{k.evidence:<10}{k.node:<11}"
                         f"{k.source}")
        return "\n".join(lines)

    def __str__(self):
        return self.table()

    def plot(self, path, layer: str = "network") -> None:
        """Energy against activity for ``layer``: the SNN line, this run, the dense lines, break-even."""
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        be = self.break_even[layer]
        top = max(1.0, be.activity * 1.2, (be.break_even or 0) * 1.2)
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot([0, top], [be.snn(0), be.snn(top)], label="SNN, event-driven (model)")
        ax.plot([be.activity], [be.snn(be.activity)], "o", label=f"this run (activity {be.activity:.3g})")
        if be.ann is not None:
            ax.axhline(be.ann, color="k", ls="--", label="dense ANN, one pass")
        if be.dense_snn is not None:
            ax.axhline(be.dense_snn, color="grey", ls=":", label="SNN run densely")
        if be.break_even is not None and 0 <= be.break_even <= top:
            ax.axvline(be.break_even, color="r", lw=0.8, label=f"break-even {be.break_even:.3g}")
        ax.set_xlabel("activity (synaptic events per synapse per step)")
        ax.set_ylabel("energy per sample [J]")
        ax.set_title(f"{layer} on {self.profile.name}")
        ax.legend(fontsize=8)
        fig.tight_layout()
        try:
            with replacing(path) as tmp:
                fig.savefig(tmp)
        finally:
            plt.close(fig)


def _reuse_text(reuse: str) -> str:
    if reuse == "none":
        return ("weight reuse: none (each dense MAC fetches its weight and read-modify-writes its accumulator, "
                "as each synaptic event does)")
    return ("weight reuse: full (dense machines fetch each weight once per pass, once per step for the dense SNN, "
            "and keep accumulators in registers; the event-driven run still fetches one weight per event)")

