"""The grid of a sweep: weight sparsity x weight bits x activity setting x timesteps.

A point is one combination. Its columns (``POINT_COLUMNS``) identify it in the results file, so a
restarted or extended sweep recognises the points it has already finished.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

from ..errors import ValidationError

FLOAT_BITS = 32
KNOBS = ("percentile", "penalty")
POINT_COLUMNS = ("sparsity", "bits", "knob", "level", "steps")


@dataclass(frozen=True)
class Activity:
    """One setting of an activity knob.

    ``percentile``: the normalization percentile of the conversion (higher: larger scales, fewer
    spikes; 100 is max-normalization). ``penalty``: the weight of the activity regularizer the ANN is
    trained with (``spiking.compress.activity_penalty``; 0 trains without it).
    """

    knob: str
    level: float

    def __post_init__(self):
        if self.knob not in KNOBS:
            raise ValidationError(f"activity knob must be one of {KNOBS}, got {self.knob!r}")
        if self.knob == "percentile" and not 0 < self.level <= 100:
            raise ValidationError(f"percentile must lie in (0, 100], got {self.level}")
        if self.knob == "penalty" and not self.level >= 0:
            raise ValidationError(f"penalty must be >= 0, got {self.level}")

    @classmethod
    def parse(cls, text: str) -> "Activity":
        """``"percentile=99.9"`` or ``"penalty=1e-4"``."""
        knob, sep, value = text.partition("=")
        try:
            level = float(value)
        except ValueError:
            level = None
        if not sep or level is None:
            raise ValidationError(f"activity setting {text!r}: expected KNOB=NUMBER with KNOB one of {KNOBS}")
        return cls(knob.strip(), level)

    def __str__(self):
        return f"{self.knob}={self.level:g}"


@dataclass(frozen=True)
class Point:
    """One point of the grid; ``bits == 32`` keeps float32 weights."""

    sparsity: float
    bits: int
    activity: Activity
    steps: int

    @property
    def columns(self) -> tuple:
        """The values of ``POINT_COLUMNS``."""
        return (self.sparsity, self.bits, self.activity.knob, self.activity.level, self.steps)

    def __str__(self):
        bits = "float" if self.bits == FLOAT_BITS else f"{self.bits} bit"
        return f"sparsity {self.sparsity:g}, {bits}, {self.activity}, T={self.steps}"


@dataclass(frozen=True)
class Grid:
    """The axes of a sweep; ``points()`` runs over them with the timesteps innermost, so points that
    share a trained, pruned and converted network follow each other."""

    sparsities: tuple = (0.0,)
    bits: tuple = (FLOAT_BITS,)
    activities: tuple = (Activity("percentile", 99.9),)
    steps: tuple = (32,)

    def __post_init__(self):
        object.__setattr__(self, "sparsities", tuple(float(s) for s in self.sparsities))
        object.__setattr__(self, "bits", tuple(int(b) for b in self.bits))
        object.__setattr__(self, "activities", tuple(a if isinstance(a, Activity) else Activity.parse(a)
                                                     for a in self.activities))
        object.__setattr__(self, "steps", tuple(int(t) for t in self.steps))
        for name in ("sparsities", "bits", "activities", "steps"):
            values = getattr(self, name)
            if not values:
                raise ValidationError(f"grid: '{name}' is empty")
            if len(set(values)) != len(values):
                raise ValidationError(f"grid: '{name}' repeats a value: {values}")
        if not all(0 <= s < 1 for s in self.sparsities):
            raise ValidationError(f"grid: sparsities must lie in [0, 1), got {self.sparsities}")
        if not all(2 <= b <= 16 or b == FLOAT_BITS for b in self.bits):
            raise ValidationError(f"grid: bits must lie in 2..16, or be {FLOAT_BITS} for float, got {self.bits}")
        if not all(t >= 1 for t in self.steps):
            raise ValidationError(f"grid: steps must be positive, got {self.steps}")

    def points(self) -> list[Point]:
        return [Point(s, b, a, t) for s, b, a, t in
                itertools.product(self.sparsities, self.bits, self.activities, self.steps)]
