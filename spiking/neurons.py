"""Neuron models as frozen, value-compared specifications.

Every model runs the same discrete update, step ``t`` (see ``../shared/reference/neuron-semantics.md``,
snnTorch ``Leaky`` with its default delayed reset, strict ``>`` threshold)::

    I      = input current at t + bias
    syn    = alpha * syn + I                  (CubaLIF only; otherwise syn = I)
    syn_i  = alpha_inh * syn_i + I_inh        (CubaLIF fed by projections with receptor "inh")
    syn    = syn + syn_i                      (only where such projections exist)
    r      = 1 if the neuron spiked at t-1
    subtract: v = (v_leak + beta * (v - v_leak) + syn) - r * v_threshold
    hard:     v =  v_leak + beta * ((v_reset if r else v) - v_leak) + syn
    none:     v =  v_leak + beta * (v - v_leak) + syn
    s = v > v_threshold

The stored membrane keeps its value after a spike; the reset lands at the next step through ``r``,
as in snnTorch, so an imported snnTorch network spikes and integrates bit for bit alike. For
``refractory`` steps after a spike the membrane is held at its reset value (input still drives the
synaptic current) and the neuron cannot spike. IF is LIF with ``beta = 1`` and no leak.
Every parameter is a scalar or an array with one value per neuron.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from .errors import ValidationError
from .value import ByValue

RESETS = ("subtract", "hard", "none")


def _as_param(value, name: str, model: str) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype.kind not in "fiub":
        raise ValidationError(f"{model}: {name} must be a number or a numeric array, got {value!r}")
    return arr.astype(np.float64)


_FLOAT32_MAX = float(np.finfo(np.float32).max)
MAX_REFRACTORY = 2 ** 62
"""Longest refractory period in steps: the kernels count it down in int64."""


@dataclass(frozen=True, eq=False)
class IF(ByValue):
    """Integrate-and-fire neuron: no leak, ``v += I`` each step."""

    v_threshold: float | np.ndarray = 1.0
    reset: str = "subtract"
    v_reset: float | np.ndarray = 0.0
    refractory: int | np.ndarray = 0
    bias: float | np.ndarray = 0.0
    v_init: float | np.ndarray = 0.0

    def __post_init__(self):
        model = type(self).__name__
        if getattr(self, "alpha_inh", 0.0) is None:
            object.__setattr__(self, "alpha_inh", self.alpha)
        if self.reset not in RESETS:
            raise ValidationError(f"{model}: reset must be one of {RESETS}, got {self.reset!r}")
        for f in fields(self):
            if f.name == "reset":
                continue
            value = getattr(self, f.name)
            arr = _as_param(value, f.name, model)
            if np.isnan(arr).any():
                raise ValidationError(f"{model}: {f.name} contains NaN")
            if f.name == "v_threshold":
                if (arr <= 0).any():
                    raise ValidationError(f"{model}: v_threshold must be > 0 (+inf for a non-spiking readout), got min {arr.min()}")
            elif not (np.abs(arr) <= _FLOAT32_MAX).all():
                raise ValidationError(f"{model}: {f.name} must be finite in float32, the runtime's precision")
            if f.name == "refractory" and not ((0 <= arr) & (arr <= MAX_REFRACTORY) & (arr == np.round(arr))).all():
                raise ValidationError(f"{model}: refractory must be a whole number of steps in [0, 2**62]")
            if isinstance(value, np.ndarray):       # a private read-only copy: the caller's array may change
                value = value.copy()
                value.flags.writeable = False
                object.__setattr__(self, f.name, value)
            if f.name in ("beta", "alpha", "alpha_inh") and ((arr < 0).any() or (arr > 1).any()):
                raise ValidationError(f"{model}: {f.name} must lie in [0, 1], got range [{arr.min()}, {arr.max()}]")

    def params(self) -> dict[str, np.ndarray]:
        """All numeric parameters as arrays, including the implicit ones of simpler models."""
        out = {"beta": np.float64(1.0), "v_leak": np.float64(0.0), "alpha": np.float64(0.0), "alpha_inh": np.float64(0.0)}
        out.update({f.name: np.asarray(getattr(self, f.name)) for f in fields(self) if f.name != "reset"})
        return out

    @property
    def has_synapse(self) -> bool:
        return False



@dataclass(frozen=True, eq=False)
class LIF(IF):
    """Leaky integrate-and-fire: ``v = v_leak + beta (v - v_leak) + I``; beta = exp(-dt / tau_mem)."""

    beta: float | np.ndarray = 0.9
    v_leak: float | np.ndarray = 0.0


@dataclass(frozen=True, eq=False)
class CubaLIF(LIF):
    """Current-based LIF: the input first decays in a synaptic current, ``syn = alpha syn + I``.

    Projections connected with ``receptor="inh"`` feed a second current that decays with
    ``alpha_inh`` (default: ``alpha``), as excitatory and inhibitory currents with their own time
    constants (Brian2's ge/gi, NEST's tau_syn_ex/tau_syn_in).
    """

    alpha: float | np.ndarray = 0.8
    alpha_inh: float | np.ndarray | None = None

    @property
    def has_synapse(self) -> bool:
        return True


DECAY_SHIFT = 12
"""Fixed-point decays are fractions of ``2**DECAY_SHIFT``."""


@dataclass(frozen=True, eq=False)
class FixedLIF(IF):
    """Integer (fixed-point) LIF neuron in the manner of Loihi: integer current ``u``, membrane
    ``v``, threshold, bias and decays; a network whose neurons are all FixedLIF runs in integer
    arithmetic on both backends. Step ``t`` with integer input ``I`` (integer weights times spikes
    or integer input values)::

        d(x, k) = sign(x) * ((|x| * (4096 - k)) >> 12)      (decay, rounded toward zero)
        u = d(u, decay_u) + I + bias
        subtract: v = d(v, decay_v) + u - r * v_threshold
        hard:     v = d(v_reset if r else v, decay_v) + u
        none:     v = d(v, decay_v) + u
        s = v > v_threshold

    ``decay_u = 4096`` (the default) keeps no current from step to step (``u = I + bias``), and
    ``decay_v = 0`` (the default) makes an integrate-and-fire neuron. It is the float model with
    ``alpha = 1 - decay_u / 4096``, ``beta = 1 - decay_v / 4096``, ``v_leak = 0``, evaluated in
    integers. ``v_threshold`` may be +inf (a non-spiking readout); no refractory period.
    """

    decay_v: int | np.ndarray = 0
    decay_u: int | np.ndarray = 1 << DECAY_SHIFT

    def __post_init__(self):
        super().__post_init__()
        for f in fields(self):
            if f.name == "reset":
                continue
            arr = np.asarray(getattr(self, f.name), np.float64)
            finite = arr[np.isfinite(arr)] if f.name == "v_threshold" else arr
            if (finite != np.round(finite)).any() or (np.abs(finite) >= 2 ** 53).any():
                raise ValidationError(f"FixedLIF: {f.name} must hold whole numbers below 2^53 in magnitude")
            if f.name.startswith("decay") and ((arr < 0).any() or (arr > 1 << DECAY_SHIFT).any()):
                raise ValidationError(f"FixedLIF: {f.name} must lie in [0, {1 << DECAY_SHIFT}], "
                                      f"got range [{arr.min()}, {arr.max()}]")
        if np.any(np.asarray(self.refractory) != 0):
            raise ValidationError("FixedLIF: refractory periods are not supported")

    def params(self) -> dict[str, np.ndarray]:
        """The float model's parameters (``beta``, ``alpha`` from the decays) beside the integer ones."""
        out = super().params()
        out["beta"] = 1.0 - np.asarray(self.decay_v, np.float64) / (1 << DECAY_SHIFT)
        out["alpha"] = 1.0 - np.asarray(self.decay_u, np.float64) / (1 << DECAY_SHIFT)
        return out

    def integers(self) -> dict[str, np.ndarray]:
        """The integer parameters as int64 arrays; an infinite threshold becomes the largest int64."""
        out = {}
        for key in ("v_threshold", "decay_v", "decay_u", "v_reset", "bias", "v_init"):
            arr = np.asarray(getattr(self, key), np.float64)
            ints = np.where(np.isinf(arr), 0, arr).astype(np.int64)
            out[key] = np.where(np.isinf(arr), np.iinfo(np.int64).max, ints)
        return out

    @property
    def has_synapse(self) -> bool:
        return bool(np.any(np.asarray(self.decay_u) != 1 << DECAY_SHIFT))


NEURON_MODELS = {cls.__name__: cls for cls in (IF, LIF, CubaLIF, FixedLIF)}
