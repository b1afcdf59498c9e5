"""Pruned Linear weights as sparse (CSR) projections: only the non-zero synapses are stored,
fetched and delivered. (A pruned Conv2d needs no pass: the runtime compiles a convolution with
at most ``spiking.runtime.compile.SPARSE_CONV_DENSITY`` non-zero weights to CSR rows of its
non-zero synapses.)"""
from __future__ import annotations

import numpy as np

from ..errors import ValidationError
from ..network import Network
from ..network.ops import Linear, Sparse
from .rebuild import rebuild


def sparsify(net: Network, max_density: float = 0.5) -> Network:
    """A copy of ``net`` where each Linear op with at most ``max_density`` non-zero weights becomes
    ``Sparse`` with the same synapses; the two run the same arithmetic, spike for spike."""
    if not 0 <= max_density <= 1:
        raise ValidationError(f"max_density must lie in [0, 1], got {max_density}")

    def ops(proj):
        return tuple(Sparse.from_dense(op.weight) if isinstance(op, Linear)
                     and np.count_nonzero(op.weight) <= max_density * op.weight.size else op for op in proj.ops)

    return rebuild(net, ops=ops)
