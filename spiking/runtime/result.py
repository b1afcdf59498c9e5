"""What a run returns, the same for every backend."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..counts import Counts


@dataclass(frozen=True, eq=False)
class RunResult:
    """Outputs of the output population, recorded spikes and the counts.

    ``output_spikes``: spike counts per output neuron over the run ``[B, *shape]``;
    ``membrane``: the output population's membrane after the last step ``[B, *shape]``;
    ``membrane_trace``: its membrane after every step ``[T, B, *shape]`` when asked, else None;
    ``recorded``: ``{population: spikes [T, B, *shape] uint8}`` for the populations asked for.
    """

    output: str
    output_spikes: np.ndarray
    membrane: np.ndarray
    membrane_trace: np.ndarray | None
    recorded: dict
    counts: Counts
