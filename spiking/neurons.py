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
            arr = _as_param(getattr(self, f.name), f.name, model)
            if np.isnan(arr).any():
                raise ValidationError(f"{model}: {f.name} contains NaN")
            if f.name == "v_threshold":
                if (arr <= 0).any():
                    raise ValidationError(f"{model}: v_threshold must be > 0 (+inf for a non-spiking readout), got min {arr.min()}")
            elif not np.isfinite(arr).all():
                raise ValidationError(f"{model}: {f.name} must be finite")
            if f.name == "refractory" and ((arr < 0).any() or (arr != np.round(arr)).any()):
                raise ValidationError(f"{model}: refractory must be a whole number of steps >= 0")
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


NEURON_MODELS = {cls.__name__: cls for cls in (IF, LIF, CubaLIF)}
