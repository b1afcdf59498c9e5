"""The ledger of exact integer counts a run produces, per step, summed over the batch.

Definitions follow NeuroBench (``../shared/reference/energy-model.md`` section 6):

- ``synaptic_events[t, q]``: presynaptic spikes arriving at step ``t`` through projection ``q``,
  each times the non-zero synapses it reaches (convolution borders and stride exact; a spike through
  a pool reaches the composite synapses of pool and weights). A spike count of 2 is two spikes.
- ``effective_macs[t, q]``: the same for analog input: non-zero input values times non-zero synapses.
- ``dense_macs[t, q]``: every synapse of the weighted op on its own input, every step (NeuroBench
  Dense: inputs and weights all one, zero weights included, borders exact).
- ``spikes[t, p]``, ``neuron_updates[t, p]`` (every neuron every step),
  ``membrane_updates[t, p]`` (NeuroBench MembraneUpdates: all neurons at step 0, then those whose
  membrane changed).
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from .checks import whole_number
from .errors import ValidationError

PROJECTION_COUNTS = ("synaptic_events", "effective_macs", "dense_macs")
POPULATION_COUNTS = ("spikes", "neuron_updates", "membrane_updates")


@dataclass(frozen=True, eq=False)
class Counts:
    """Per-step int64 counts of one run; ``totals()`` sums over steps."""

    projections: tuple
    populations: tuple
    batch: int
    synaptic_events: np.ndarray
    effective_macs: np.ndarray
    dense_macs: np.ndarray
    spikes: np.ndarray
    neuron_updates: np.ndarray
    membrane_updates: np.ndarray

    def __eq__(self, other):
        if not isinstance(other, Counts):
            return NotImplemented
        return all(np.array_equal(getattr(self, f.name), getattr(other, f.name)) for f in fields(self))

    __hash__ = None

    def __post_init__(self):
        object.__setattr__(self, "batch", whole_number(self.batch, "Counts: batch", 1))
        steps = np.shape(self.spikes)[0] if np.ndim(self.spikes) == 2 else -1
        for keys, names in ((POPULATION_COUNTS, self.populations), (PROJECTION_COUNTS, self.projections)):
            for key in keys:
                values = np.asarray(getattr(self, key))
                if values.shape != (steps, len(names)) or values.dtype.kind not in "iu" or (values < 0).any():
                    raise ValidationError(f"Counts: {key} must be non-negative integers of shape "
                                          f"[steps, {len(names)}], got {values.dtype} {values.shape}")

    @classmethod
    def combine(cls, parts) -> "Counts":
        """The ledger of several runs of one network over the same steps, as if run as one batch."""
        parts = list(parts)
        if not parts or not all(isinstance(c, Counts) for c in parts):
            raise ValidationError("Counts.combine: needs one or more Counts")
        first = parts[0]
        for other in parts[1:]:
            if (other.projections, other.populations, other.steps) != (first.projections, first.populations,
                                                                         first.steps):
                raise ValidationError("Counts.combine: the runs differ in layers or steps")
        arrays = {key: sum(getattr(c, key) for c in parts) for key in PROJECTION_COUNTS + POPULATION_COUNTS}
        return cls(first.projections, first.populations, sum(c.batch for c in parts), **arrays)

    def head(self, steps: int) -> "Counts":
        """The ledger of the first ``steps`` steps: what a run of that length counted."""
        steps = whole_number(steps, "Counts.head: steps", 1, self.steps)
        arrays = {key: getattr(self, key)[:steps].copy() for key in PROJECTION_COUNTS + POPULATION_COUNTS}
        return type(self)(self.projections, self.populations, self.batch, **arrays)

    @property
    def steps(self) -> int:
        return self.spikes.shape[0]

    def totals(self) -> dict[str, dict[str, int]]:
        """``{count name: {layer name: total over steps and batch}}``."""
        out = {}
        for key in PROJECTION_COUNTS:
            out[key] = dict(zip(self.projections, getattr(self, key).sum(axis=0).tolist()))
        for key in POPULATION_COUNTS:
            out[key] = dict(zip(self.populations, getattr(self, key).sum(axis=0).tolist()))
        return out

    @property
    def activity(self) -> float:
        """Synaptic events and effective MACs divided by dense MACs, over the whole network."""
        dense = int(self.dense_macs.sum())
        return float(self.synaptic_events.sum() + self.effective_macs.sum()) / dense if dense else 0.0

    def table(self) -> str:
        """A readable per-layer summary, per sample."""
        t = self.totals()
        lines = [f"counts per sample ({self.batch} samples, {self.steps} steps)",
                 f"{'projection':<24}{'syn. events':>14}{'eff. MACs':>14}{'dense MACs':>14}"]
        for name in self.projections:
            lines.append(f"{name:<24}" + "".join(f"{t[k][name] / self.batch:>14.1f}" for k in PROJECTION_COUNTS))
        lines.append(f"{'population':<24}{'spikes':>14}{'updates':>14}{'mem. updates':>14}")
        for name in self.populations:
            lines.append(f"{name:<24}" + "".join(f"{t[k][name] / self.batch:>14.1f}" for k in POPULATION_COUNTS))
        return "\n".join(lines)
