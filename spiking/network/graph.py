"""A network as data: named populations and the projections between them.

Populations run in a fixed order: input populations first, then the others in the order they
were added. A projection from an earlier population to a later one is feed-forward and delivers
within the step (delay 0 by default); one from a later population, or the same one, closes a
cycle, is recurrent and delivers ``delay >= 1`` steps later (1 by default).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..checks import whole_number
from ..errors import ValidationError
from ..neurons import IF
from ..value import ByValue
from .ops import POOLS, WEIGHTED, Flatten, MaxPool2d

RECEPTORS = ("exc", "inh")


@dataclass(frozen=True, eq=False)
class Population(ByValue):
    """A group of neurons sharing one model; ``neuron is None`` marks a network input."""

    name: str
    shape: tuple
    neuron: IF | None = None

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    @property
    def is_input(self) -> bool:
        return self.neuron is None


@dataclass(frozen=True, eq=False)
class Projection(ByValue):
    """Activity of ``pre`` through ``ops`` (pooling, flatten, weights) into the current of ``post``.

    ``receptor`` is ``"exc"`` (the input current) or ``"inh"`` (a CubaLIF's second synaptic current).
    """

    name: str
    pre: str
    post: str
    ops: tuple
    delay: int
    receptor: str = "exc"

    @property
    def pool(self):
        return next((op for op in self.ops if isinstance(op, POOLS)), None)

    @property
    def weighted(self):
        return next((op for op in self.ops if isinstance(op, WEIGHTED)), None)


def _check_shape(name: str, shape) -> tuple:
    dims = tuple(shape) if np.iterable(shape) else (shape,)
    if not dims:
        raise ValidationError(f"population '{name}': shape must be non-empty positive integers, got {shape!r}")
    return tuple(whole_number(d, f"population '{name}': shape", 1) for d in dims)


def _check_neuron_params(name: str, neuron: IF, shape: tuple) -> None:
    size = int(np.prod(shape))
    for key, value in neuron.params().items():
        if value.ndim and value.shape not in (shape, (size,)):
            raise ValidationError(f"population '{name}': {key} has shape {value.shape}, expected a scalar, "
                                  f"{shape} or ({size},)")


class Network:
    """Populations and projections, built by ``input``, ``population`` and ``connect``."""

    def __init__(self):
        self.populations: dict[str, Population] = {}
        self.projections: dict[str, Projection] = {}
        self.output: str | None = None

    def __eq__(self, other):
        if not isinstance(other, Network):
            return NotImplemented
        return (self.output_name == other.output_name
                and list(self.populations.items()) == list(other.populations.items())
                and list(self.projections.items()) == list(other.projections.items()))

    __hash__ = None

    def __repr__(self):
        pops = ", ".join(f"{p.name}{p.shape}" for p in self.order)
        return f"Network([{pops}], {len(self.projections)} projections, output={self.output_name!r})"

    def _add(self, pop: Population) -> str:
        if not isinstance(pop.name, str) or not pop.name or "/" in pop.name:
            raise ValidationError(f"population name must be a non-empty string without '/', got {pop.name!r}")
        if pop.name in self.populations:
            raise ValidationError(f"population '{pop.name}' already exists")
        self.populations[pop.name] = pop
        return pop.name

    def input(self, name: str, shape) -> str:
        """Add an input population; the run feeds it spikes or currents. A network has at most one."""
        if any(p.is_input for p in self.populations.values()):
            raise ValidationError(f"input '{name}': the network already has an input population")
        return self._add(Population(name, _check_shape(name, shape)))

    def population(self, name: str, neuron: IF, shape) -> str:
        """Add a population of ``neuron`` with the given shape."""
        if not isinstance(neuron, IF):
            raise ValidationError(f"population '{name}': neuron must be IF, LIF or CubaLIF, got {type(neuron).__name__}")
        shape = _check_shape(name, shape)
        _check_neuron_params(name, neuron, shape)
        return self._add(Population(name, shape, neuron))

    def connect(self, pre: str, post: str, ops=(), delay: int | None = None, name: str | None = None,
                receptor: str = "exc") -> str:
        """Project ``pre`` into ``post`` through ``ops`` (one op or a sequence), returning the projection's name.

        ``receptor="inh"`` feeds the second synaptic current of a CubaLIF population.
        """
        ops = tuple(ops) if isinstance(ops, (list, tuple)) else (ops,)
        name = name or self._free_name(f"{pre}->{post}")
        if name in self.projections:
            raise ValidationError(f"projection '{name}' already exists")
        for end in (pre, post):
            if end not in self.populations:
                raise ValidationError(f"projection '{name}': no population named '{end}'")
        if self.populations[post].is_input:
            raise ValidationError(f"projection '{name}': '{post}' is an input and cannot receive projections")
        if receptor not in RECEPTORS:
            raise ValidationError(f"projection '{name}': receptor must be one of {RECEPTORS}, got {receptor!r}")
        if receptor == "inh" and not self.populations[post].neuron.has_synapse:
            raise ValidationError(f"projection '{name}': receptor 'inh' needs a CubaLIF population, "
                                  f"'{post}' is {type(self.populations[post].neuron).__name__}")
        recurrent = self.rank(pre) >= self.rank(post)
        if delay is None:
            delay = 1 if recurrent else 0
        delay = whole_number(delay, f"projection '{name}': delay", 0)
        if recurrent and delay < 1:
            raise ValidationError(f"projection '{name}': '{pre}' does not come before '{post}', so the projection "
                                  f"closes a cycle and needs delay >= 1, got {delay}")
        _check_chain(name, ops)
        shape = self.populations[pre].shape
        for op in ops:
            try:
                shape = op.output_shape(shape)
            except ValidationError as e:
                raise ValidationError(f"projection '{name}': {e}") from None
        if shape != self.populations[post].shape:
            raise ValidationError(f"projection '{name}': ops produce shape {shape} but '{post}' has shape "
                                  f"{self.populations[post].shape}" + ("; add Flatten()" if len(shape) > 1 else ""))
        self.projections[name] = Projection(name, pre, post, ops, int(delay), receptor)
        return name

    def _free_name(self, base: str) -> str:
        name, k = base, 1
        while name in self.projections:
            k += 1
            name = f"{base}#{k}"
        return name

    @property
    def order(self) -> list[Population]:
        """Populations in run order: the input first, then the rest as added."""
        pops = list(self.populations.values())
        return [p for p in pops if p.is_input] + [p for p in pops if not p.is_input]

    @property
    def layout(self) -> tuple:
        """Each population's name and shape in run order, and the projections' names: what a
        prepared plan (``compile_network``, ``DenseReference``) is laid out by."""
        return tuple((p.name, p.shape) for p in self.order), tuple(self.projections)

    def rank(self, name: str) -> int:
        return [p.name for p in self.order].index(name)

    @property
    def input_population(self) -> Population | None:
        return next((p for p in self.populations.values() if p.is_input), None)

    @property
    def output_name(self) -> str | None:
        """The population read out by a run: ``output`` if set, else the last population added."""
        if self.output is not None:
            return self.output
        neurons = [p.name for p in self.order if not p.is_input]
        return neurons[-1] if neurons else None

    def validate(self) -> None:
        """Check what a run needs beyond what construction already checked."""
        if not any(not p.is_input for p in self.populations.values()):
            raise ValidationError("network has no neuron population to run")
        if self.output_name not in self.populations or self.populations[self.output_name].is_input:
            raise ValidationError(f"network output '{self.output_name}' is not a neuron population")


def _check_chain(name: str, ops: tuple) -> None:
    kinds = [("pool" if isinstance(op, POOLS) else "weights" if isinstance(op, WEIGHTED)
              else "flatten" if isinstance(op, Flatten) else None) for op in ops]
    if None in kinds:
        bad = ops[kinds.index(None)]
        raise ValidationError(f"projection '{name}': {type(bad).__name__} is not a projection op")
    if kinds.count("pool") > 1 or kinds.count("weights") > 1:
        raise ValidationError(f"projection '{name}': at most one pooling and one weighted op per projection; "
                              "put a population between further stages")
    if any(isinstance(op, MaxPool2d) for op in ops[1:]):
        raise ValidationError(f"projection '{name}': MaxPool2d gates the presynaptic spikes and must come first "
                              "in the projection")
    if "pool" in kinds and "weights" in kinds:
        pool = ops[kinds.index("pool")]
        if kinds.index("pool") > kinds.index("weights"):
            raise ValidationError(f"projection '{name}': pooling after weights is not supported; pool the spikes "
                                  "of a population before its outgoing weights")
        if pool.stride != pool.kernel_size or pool.padding != (0, 0):
            raise ValidationError(f"projection '{name}': pooling before weights must tile its input (stride == "
                                  f"kernel, no padding), got kernel {pool.kernel_size}, stride {pool.stride}, "
                                  f"padding {pool.padding}; put a population between")
