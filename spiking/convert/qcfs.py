"""The quantization-clip-floor-shift activation (QCFS, Bu et al., ICLR 2022), to train in place of ReLU.

``a = lam * clip(floor(x * L / lam + 1/2) / L, 0, 1)`` with a trainable ceiling ``lam`` and ``L`` levels.
An IF neuron with threshold ``lam``, reset by subtraction and initial membrane ``lam / 2`` fires at
rates that equal this activation when its input is constant, so a network trained with it converts
accurately in as few steps as it has levels. The floor passes gradients straight through.
"""
from __future__ import annotations

import torch
from torch import nn


class _StraightThroughFloor(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return torch.floor(x)

    @staticmethod
    def backward(ctx, grad):
        return grad


class QCFS(nn.Module):
    """Clipped, quantized ReLU with ``levels`` steps up to a trainable ceiling (initially ``ceiling``)."""

    def __init__(self, levels: int = 8, ceiling: float = 8.0):
        super().__init__()
        if int(levels) != levels or levels < 1:
            raise ValueError(f"QCFS: levels must be a whole number >= 1, got {levels}")
        if not ceiling > 0:
            raise ValueError(f"QCFS: ceiling must be > 0, got {ceiling}")
        self.levels = int(levels)
        self.ceiling = nn.Parameter(torch.tensor(float(ceiling)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lam = self.ceiling
        steps = _StraightThroughFloor.apply(x * self.levels / lam + 0.5)
        return lam * torch.clamp(steps / self.levels, 0.0, 1.0)

    def extra_repr(self) -> str:
        return f"levels={self.levels}, ceiling={float(self.ceiling):.4g}"
