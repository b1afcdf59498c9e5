"""An activity regularizer for training ANNs that will be converted: fewer, smaller activations
become fewer spikes after conversion (a converted neuron's rate is its activation over its scale)."""
from __future__ import annotations

import torch
from torch import nn

from ..errors import ValidationError

NORMS = ("l1", "l2")


class ActivityPenalty:
    """Collects the outputs of the watched modules during each forward pass with gradients
    (forward hooks) and returns ``weight * sum over modules of mean(|a|)`` (``"l1"``) or
    ``mean(a^2)`` (``"l2"``) when called, forgetting them. Call it once per forward pass and
    add it to the loss; ``remove()`` detaches the hooks."""

    def __init__(self, model: nn.Module, weight: float, norm: str, modules: tuple):
        if norm not in NORMS:
            raise ValidationError(f"norm must be one of {NORMS}, got {norm!r}")
        if weight < 0:
            raise ValidationError(f"weight must be >= 0, got {weight}")
        watched = [m for m in model.modules() if isinstance(m, modules)]
        if not watched:
            raise ValidationError(f"the model has no {', '.join(t.__name__ for t in modules)} module to regularize")
        self.weight, self.norm = float(weight), norm
        self._terms: list[torch.Tensor] = []
        self._hooks = [m.register_forward_hook(self._collect) for m in watched]

    def _collect(self, module, inputs, output) -> None:
        if torch.is_grad_enabled():
            self._terms.append(output.abs().mean() if self.norm == "l1" else output.pow(2).mean())

    def __call__(self) -> torch.Tensor:
        terms, self._terms = self._terms, []
        if not terms:
            raise ValidationError("no activations collected: call the penalty after a forward pass with gradients")
        return self.weight * torch.stack(terms).sum()

    def remove(self) -> None:
        for h in self._hooks:
            h.remove()
        self._hooks = []


def activity_penalty(model: nn.Module, weight: float = 1e-2, *, norm: str = "l1",
                     modules: tuple = (nn.ReLU,)) -> ActivityPenalty:
    """A penalty on the activations of ``model``'s ``modules`` (ReLUs by default).

    In ``spiking.bench.train.train_classifier(model, x, y, penalty=activity_penalty(model, 1e-2))``
    it is added to the cross-entropy of every minibatch; in a custom loop call it after the forward
    pass: ``loss = F.cross_entropy(model(x), y) + penalty()``.
    """
    return ActivityPenalty(model, weight, norm, tuple(modules))
