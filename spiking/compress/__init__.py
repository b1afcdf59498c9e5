"""Model compression for spiking networks: magnitude pruning, weight quantization, the integer
(fixed-point) runtime mode, sparse projections for pruned layers, and an activity regularizer."""
from .fixed import fixed_point
from .prune import magnitude_masks, prune, sparsity
from .quantize import quantize
from .regularize import ActivityPenalty, activity_penalty
from .sparsify import sparsify

__all__ = ["prune", "sparsity", "magnitude_masks", "quantize", "fixed_point", "sparsify", "activity_penalty",
           "ActivityPenalty"]
