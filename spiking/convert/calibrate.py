"""Data-based normalization: each spiking layer's scale from the ANN's activations on calibration data.

A layer's scale is the activation value that its neurons' full firing rate (one spike per step)
stands for: the maximum, or a percentile of the positive activations (Rueckauer et al. 2017; 99.9
by default), over the whole layer or per channel. Every value is used: the result does not depend
on the order or batching of the calibration data.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import fx

from ..errors import ConversionError

METHODS = ("max", "percentile")


def batches(data, batch_size: int):
    """Calibration inputs as float32 tensors: a tensor or array ``[N, ...]``, or an iterable of batches
    (tensors, or tuples whose first item is the input, as a DataLoader yields)."""
    if isinstance(data, (torch.Tensor, np.ndarray)):
        data = torch.as_tensor(data)
        if len(data) == 0:
            raise ConversionError("calibration data is empty")
        for start in range(0, len(data), batch_size):
            yield data[start:start + batch_size].float()
        return
    empty = True
    for item in data:
        x = item[0] if isinstance(item, (tuple, list)) else item
        empty = False
        yield torch.as_tensor(x).float()
    if empty:
        raise ConversionError("calibration data is empty")


class _Recorder(fx.Interpreter):
    def __init__(self, gm: fx.GraphModule, wanted: set):
        super().__init__(gm)
        self.wanted, self.seen = wanted, {}

    def run_node(self, n):
        out = super().run_node(n)
        if n.name in self.wanted:
            self.seen[n.name] = out
        return out


def record(gm: fx.GraphModule, data, nodes: list, batch_size: int = 256) -> dict:
    """Each named node's outputs (``output``: the model's) over all calibration inputs, as float32 ``[N, ...]``."""
    parts = {name: [] for name in nodes}
    gm.eval()
    with torch.no_grad():
        for x in batches(data, batch_size):
            rec = _Recorder(gm, set(nodes))
            rec.run(x)
            for name in nodes:
                parts[name].append(rec.seen[name].detach().float().numpy())
    return {name: np.concatenate(chunks) for name, chunks in parts.items()}


def scale(values: np.ndarray, method: str = "percentile", percentile: float = 99.9,
          per_channel: bool = False) -> np.ndarray:
    """The scale of one layer from its activations ``[N, C, ...]``: a scalar, or one value per channel.

    Channels (or layers) that never activate get scale 1, so their weights are left as they are.
    """
    if method not in METHODS:
        raise ConversionError(f"normalization must be one of {METHODS}, got {method!r}")
    if not 0 < percentile <= 100:
        raise ConversionError(f"percentile must lie in (0, 100], got {percentile}")
    groups = np.moveaxis(values, 1, 0).reshape(values.shape[1], -1) if per_channel else values.reshape(1, -1)
    out = np.ones(len(groups))
    for i, group in enumerate(groups):
        positive = group[group > 0]
        if positive.size:
            out[i] = positive.max() if method == "max" else np.percentile(positive, percentile)
    return out if per_channel else out[:1].reshape(())
