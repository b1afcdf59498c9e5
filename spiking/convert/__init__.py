"""Trained torch model -> spiking network: tracing, BatchNorm folding, data-based normalization.

``convert(model, calibration)`` traces the model with torch.fx, replaces every ReLU (or clipped
ReLU, or QCFS activation) with integrate-and-fire neurons that reset by subtraction, scales each
layer by its activations on the calibration data, and feeds the input as analog current. The
converted network runs on either backend of ``spiking.run``; ``evaluate`` scores it at several
run lengths in one pass.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from torch import nn

from ..errors import ConversionError
from ..network import Network
from .build import READOUTS, build_network
from .calibrate import METHODS, batches, record, scale
from .evaluate import Evaluation, evaluate
from .qcfs import QCFS
from .trace import trace


@dataclass(frozen=True, eq=False)
class Converted:
    """The spiking network, its layers (population names, in order) with the module or node each
    replaces, their scales (ANN value of one spike per step) and the readout."""

    network: Network
    layers: tuple
    sources: dict
    scales: dict
    readout: str


def convert(model: nn.Module, calibration, *, normalization: str = "percentile", percentile: float = 99.9,
            per_channel: bool = False, half_threshold: bool = True, readout: str = "membrane",
            batch_size: int = 256) -> Converted:
    """Convert a trained ``model`` (put in eval mode) using ``calibration`` inputs.

    ``calibration``: a tensor or array ``[N, ...]`` or an iterable of batches (a DataLoader).
    ``normalization``: ``"percentile"`` (of positive activations, ``percentile``) or ``"max"``, per
    layer or ``per_channel``. QCFS layers keep their trained ceiling as their scale. ``half_threshold``
    starts every spiking neuron at half its threshold (rounding instead of flooring the rate).
    ``readout``: ``"membrane"`` (the output layer integrates without spiking; argmax of its membrane)
    or ``"spikes"`` (it fires, scaled by its calibration activations; argmax of spike counts).
    """
    if normalization not in METHODS:
        raise ConversionError(f"normalization must be one of {METHODS}, got {normalization!r}")
    if readout not in READOUTS:
        raise ConversionError(f"readout must be one of {READOUTS}, got {readout!r}")
    model.eval()
    example = next(iter(batches(calibration, batch_size)))[:1]
    traced = trace(model, example)
    calibrated = [layer.node for layer in traced.layers if layer.levels is None]
    values = record(traced.module, calibration, calibrated + (["output"] if readout == "spikes" else []), batch_size)
    scales = {}
    for layer in traced.layers:
        if layer.levels is not None:
            scales[layer.name] = np.asarray(layer.ceiling)
            continue
        lam = scale(values[layer.node], normalization, percentile, per_channel)
        scales[layer.name] = np.minimum(lam, layer.ceiling) if layer.ceiling is not None else lam
    readout_scale = scale(values["output"], normalization, percentile) if readout == "spikes" else None
    net = build_network(traced, scales, readout, readout_scale, half_threshold)
    return Converted(net, tuple(layer.name for layer in traced.layers),
                     {layer.name: layer.path for layer in traced.layers}, scales, readout)


__all__ = ["convert", "Converted", "evaluate", "Evaluation", "QCFS", "trace"]
