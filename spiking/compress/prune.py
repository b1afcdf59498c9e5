"""Magnitude pruning of a trained torch model, with optional fine-tuning under fixed masks.

The weights of every ``nn.Linear`` and ``nn.Conv2d`` are ranked by magnitude and the smallest are
set to exactly zero: ``round(sparsity * n)`` of them over all layers together (``scope="global"``)
or in each layer (``scope="layer"``). Ties are broken by position, so the count is exact.
"""
from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from ..errors import ValidationError
from ..network import Network
from ..network.ops import Conv2d, Linear, Sparse

SCOPES = ("global", "layer")
PRUNABLE = (nn.Linear, nn.Conv2d)


def prunable_weights(model: nn.Module) -> list[torch.nn.Parameter]:
    """The weights of the model's Linear and Conv2d layers, in module order."""
    return [m.weight for m in model.modules() if isinstance(m, PRUNABLE)]


def _smallest(magnitudes: torch.Tensor, k: int) -> torch.Tensor:
    """A 0/1 mask that zeroes the ``k`` smallest entries of a flat tensor (first positions win ties)."""
    mask = torch.ones_like(magnitudes)
    mask[torch.argsort(magnitudes, stable=True)[:k]] = 0
    return mask


def magnitude_masks(weights: list, sparsity: float, scope: str = "global") -> list[torch.Tensor]:
    """Masks (1 keeps a weight, 0 prunes it) for ``weights`` at the target ``sparsity``."""
    if not 0 <= sparsity <= 1:
        raise ValidationError(f"sparsity must lie in [0, 1], got {sparsity}")
    if scope not in SCOPES:
        raise ValidationError(f"scope must be one of {SCOPES}, got {scope!r}")
    flat = [w.detach().abs().reshape(-1) for w in weights]
    if scope == "layer":
        return [_smallest(f, round(sparsity * f.numel())).reshape(w.shape) for f, w in zip(flat, weights)]
    every = torch.cat(flat)
    mask = _smallest(every, round(sparsity * every.numel()))
    return [m.reshape(w.shape) for m, w in zip(torch.split(mask, [f.numel() for f in flat]), weights)]


@torch.no_grad()
def _apply(weights: list, masks: list) -> None:
    for w, m in zip(weights, masks):
        w.mul_(m)


def prune(model: nn.Module, sparsity: float, *, scope: str = "global", finetune=None, steps: int = 1,
          lr: float = 1e-4, seed: int = 0) -> nn.Module:
    """A pruned copy of ``model``: the ``sparsity`` fraction of its Linear/Conv2d weights with the
    smallest magnitudes set to exactly zero (over all layers, or per layer with ``scope="layer"``).

    ``finetune``: None, or ``(images, labels, epochs)`` to train the copy (Adam, learning rate ``lr``)
    for ``epochs`` epochs after each of ``steps`` pruning steps. The sparsity grows to the target
    over the steps on the cubic schedule of Zhu and Gupta (2017), ``s_k = s (1 - (1 - k/steps)^3)``;
    during fine-tuning the gradients of pruned weights are masked, and the masks are re-applied
    after each step, so pruned weights stay exactly zero. Returns the copy in eval mode.
    """
    if int(steps) != steps or steps < 1:
        raise ValidationError(f"steps must be a positive whole number, got {steps}")
    if finetune is None and steps != 1:
        raise ValidationError("steps > 1 prunes between fine-tuning runs: give finetune=(images, labels, epochs)")
    pruned = copy.deepcopy(model)
    weights = prunable_weights(pruned)
    if not weights:
        raise ValidationError("the model has no nn.Linear or nn.Conv2d weights to prune")
    for k in range(1, steps + 1):
        masks = magnitude_masks(weights, sparsity * (1 - (1 - k / steps) ** 3), scope)
        _apply(weights, masks)
        if finetune is not None:
            _finetune(pruned, weights, masks, finetune, lr, seed + k)
            _apply(weights, masks)
    return pruned.eval()


def _finetune(model: nn.Module, weights: list, masks: list, finetune, lr: float, seed: int) -> None:
    from ..bench.train import train_classifier  # the training loop lives with the benchmarks

    images, labels, epochs = finetune
    hooks = [w.register_hook(lambda g, m=m: g * m) for w, m in zip(weights, masks)]
    try:
        train_classifier(model, images, labels, epochs=epochs, lr=lr, seed=seed)
    finally:
        for h in hooks:
            h.remove()


def sparsity(model_or_network) -> float:
    """The fraction of zero weights: over a torch model's Linear/Conv2d weights, or over a network's
    weighted ops (a ``Sparse`` op counts its absent synapses as zeros)."""
    if isinstance(model_or_network, nn.Module):
        weights = prunable_weights(model_or_network)
        total = sum(w.numel() for w in weights)
        zeros = sum(int((w == 0).sum()) for w in weights)
    elif isinstance(model_or_network, Network):
        total = zeros = 0
        for proj in model_or_network.projections.values():
            op = proj.weighted
            if isinstance(op, (Linear, Conv2d)):
                total += op.weight.size
                zeros += op.weight.size - int(np.count_nonzero(op.weight))
            elif isinstance(op, Sparse):
                total += op.n_pre * op.n_post
                zeros += op.n_pre * op.n_post - int(np.count_nonzero(op.to_dense()))
    else:
        raise ValidationError(f"sparsity takes a torch model or a spiking Network, got "
                              f"{type(model_or_network).__name__}")
    if total == 0:
        raise ValidationError("no weights to measure sparsity over")
    return zeros / total
