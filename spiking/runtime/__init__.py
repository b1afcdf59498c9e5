"""Run a network event-driven (numba) or densely (torch reference) and count what happened."""
from __future__ import annotations

from ..checks import whole_number
from ..errors import ValidationError
from ..network import MaxPool2d, Network
from .compile import Plan, compile_network
from .event import run_event
from .result import RunResult
from .stimulus import Stimulus, currents, poisson, spikes

BACKENDS = ("event", "dense")


def run(net: Network, stimulus: Stimulus | None = None, steps: int | None = None, *, batch: int | None = None,
        backend: str = "event", record=(), record_membrane: bool = False, plan: Plan | None = None) -> RunResult:
    """Run ``net`` on ``stimulus`` for ``steps`` steps.

    ``stimulus`` comes from ``spikes``, ``currents``, ``poisson`` or ``spiking.datasets``; a network
    without an input population runs with ``stimulus=None`` and an explicit ``batch`` (default 1).
    ``steps`` defaults to the stimulus length. ``record`` names populations whose spikes to keep.
    ``plan`` reuses a prepared network across runs: ``compile_network(net)`` for the event backend,
    ``spiking.runtime.dense.DenseReference(net)`` for the dense one.
    """
    if backend not in BACKENDS:
        raise ValidationError(f"backend must be one of {BACKENDS}, got {backend!r}")
    net.validate()
    record = tuple([record] if isinstance(record, str) else record)
    for name in record:
        if name not in net.populations:
            raise ValidationError(f"record: no population named '{name}'")
    inp = net.input_population
    if inp is None:
        if stimulus is not None:
            raise ValidationError("network has no input population but a stimulus was given")
        batch = 1 if batch is None else batch
    else:
        if not isinstance(stimulus, Stimulus):
            raise ValidationError(f"input '{inp.name}' needs a Stimulus (spiking.spikes, currents, poisson), "
                                  f"got {type(stimulus).__name__}")
        if stimulus.shape != inp.shape:
            raise ValidationError(f"input '{inp.name}' has shape {inp.shape}, stimulus has shape {stimulus.shape}")
        if batch is not None and batch != stimulus.batch:
            raise ValidationError(f"batch={batch} but the stimulus has batch {stimulus.batch}")
        batch = stimulus.batch
        if stimulus.analog and any(isinstance(p.pool, MaxPool2d) for p in net.projections.values() if p.pre == inp.name):
            raise ValidationError(f"input '{inp.name}' is fed analog currents, but MaxPool2d gates spikes")
        if stimulus.analog and inp.name in record:
            raise ValidationError(f"record: '{inp.name}' is fed analog currents, not spikes; the stimulus holds them")
    if steps is None:
        if stimulus is None or stimulus.constant:
            raise ValidationError("steps must be given for a constant or absent stimulus")
        steps = stimulus.steps
    steps = whole_number(steps, "steps", 1)
    if stimulus is not None and not stimulus.constant and stimulus.steps != steps:
        raise ValidationError(f"steps={steps} but the stimulus has {stimulus.steps} steps")
    batch = whole_number(batch, "batch", 1)
    if backend == "dense":
        from .dense import DenseReference, run_dense  # torch loads only for the dense reference

        _check_plan(plan, DenseReference, "DenseReference(net)", net)
        return run_dense(plan or DenseReference(net), stimulus, int(steps), int(batch), record, record_membrane)
    _check_plan(plan, Plan, "compile_network(net)", net)
    return run_event(plan or compile_network(net), stimulus, int(steps), int(batch), record, record_membrane)


def _check_plan(plan, kind: type, made_by: str, net: Network) -> None:
    """A plan must be prepared from ``net`` itself, with the populations and projections it has now:
    the kernels trust its layout."""
    if plan is not None and not (isinstance(plan, kind) and plan.net is net and plan.layout == net.layout):
        raise ValidationError(f"plan must be {made_by} of this network, prepared after its populations and "
                              "projections last changed")


__all__ = ["run", "RunResult", "Stimulus", "spikes", "currents", "poisson", "compile_network", "Plan"]
