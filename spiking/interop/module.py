"""A network as a torch ``nn.Module`` for inference, so that it drops into a torch evaluation loop."""
from __future__ import annotations

import torch
from torch import nn

from ..counts import Counts
from ..errors import ValidationError
from ..network import Network
from ..runtime import BACKENDS, compile_network, currents, run, spikes

OUTPUTS = ("spikes", "membrane")


class SpikingModule(nn.Module):
    """Run ``net`` on a batch of tensors; inference only (no autograd through the spiking runtime).

    ``forward(x)`` takes spikes ``[T, B, *input_shape]`` (0/1 or whole counts; T must equal
    ``steps`` when given) or an analog current ``[B, *input_shape]`` applied for ``steps`` steps, and
    returns ``(output, counts)``: the output population's spike counts over the run (``output=
    "spikes"``) or its membrane after the last step (``"membrane"``, e.g. an integrating readout with
    ``v_threshold=inf``), a float32 tensor ``[B, *output_shape]`` on ``x``'s device, and the run's
    ``spiking.Counts``. ``self.counts`` keeps the last run's counts as well.
    """

    def __init__(self, net: Network, steps: int | None = None, backend: str = "event", output: str = "spikes"):
        super().__init__()
        net.validate()
        if backend not in BACKENDS:
            raise ValidationError(f"backend must be one of {BACKENDS}, got {backend!r}")
        if output not in OUTPUTS:
            raise ValidationError(f"output must be one of {OUTPUTS}, got {output!r}")
        if net.input_population is None:
            raise ValidationError("SpikingModule needs a network with an input population")
        self.net, self.steps, self.backend, self.output = net, steps, backend, output
        if backend == "event":
            self._plan = compile_network(net)
        else:
            from ..runtime.dense import DenseReference

            self._plan = DenseReference(net)
        self.counts: Counts | None = None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, Counts]:
        if torch.is_grad_enabled() and x.requires_grad:
            raise ValidationError("SpikingModule runs inference only: gradients do not flow through the spiking "
                                  "runtime; call it under torch.no_grad() or pass x.detach()")
        shape = self.net.input_population.shape
        if x.ndim == len(shape) + 2:
            if self.steps is not None and x.shape[0] != self.steps:
                raise ValidationError(f"spike input has {x.shape[0]} steps, the module runs {self.steps}")
            stim, steps = spikes(x), x.shape[0]
        elif x.ndim == len(shape) + 1:
            if self.steps is None:
                raise ValidationError("analog input [B, ...] needs steps= at construction")
            stim, steps = currents(x), self.steps
        else:
            raise ValidationError(f"input must be spikes [T, B, *{shape}] or currents [B, *{shape}], got shape "
                                  f"{tuple(x.shape)}")
        res = run(self.net, stim, steps, backend=self.backend, plan=self._plan)
        out = res.output_spikes if self.output == "spikes" else res.membrane
        self.counts = res.counts
        return torch.from_numpy(out.astype("float32")).to(x.device), res.counts

    def extra_repr(self) -> str:
        return f"{self.net!r}, steps={self.steps}, backend={self.backend!r}, output={self.output!r}"
