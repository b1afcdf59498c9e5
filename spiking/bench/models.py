"""The two benchmark networks of the runtime issue, as ``spiking`` networks and as snnTorch modules.

MLP 784-1024-1024-10 and a LeNet-like CNN (conv 1->16 k5, avgpool 2, conv 16->32 k5, avgpool 2,
linear 512->128, linear 128->10), IF neurons (threshold 1, reset by subtraction), no biases. Weights
are uniform in [0, 2 / fan_in], so that the mean drive of a neuron per step equals the density of
its input: every layer spikes at about the input's density. They are rounded to multiples of 2^-14,
so every partial sum is exact in float32 and all backends and snnTorch spike identically. The MLP's
are then integers up to 41 (784 inputs) or 32 (1024) times 2^-14, which the event kernel stores as
int8 codes (``spiking.runtime.codes``), as it does LeNet's 512->128 layer (up to 64 x 2^-16 after
the pool). ``full_precision`` keeps the weights as drawn, float32 off any grid.
"""
from __future__ import annotations

import numpy as np

from ..network import AvgPool2d, Conv2d, Flatten, Linear, Network
from ..neurons import IF

INPUT_SHAPES = {"mlp": (784,), "lenet": (1, 28, 28)}


def _uniform(rng, shape, fan_in, full_precision):
    w = rng.random(shape) * (2.0 / fan_in)
    return (w if full_precision else np.round(w * 2 ** 14) / 2 ** 14).astype(np.float32)


def mlp(seed: int = 0, full_precision: bool = False) -> Network:
    rng = np.random.default_rng(seed)
    net = Network()
    net.input("input", INPUT_SHAPES["mlp"])
    sizes = (784, 1024, 1024, 10)
    pre = "input"
    for k, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        name = f"fc{k + 1}"
        net.population(name, IF(), (n_out,))
        net.connect(pre, name, Linear(_uniform(rng, (n_out, n_in), n_in, full_precision)))
        pre = name
    return net


def lenet(seed: int = 0, full_precision: bool = False) -> Network:
    rng = np.random.default_rng(seed)
    net = Network()
    net.input("input", INPUT_SHAPES["lenet"])
    net.population("conv1", IF(), (16, 24, 24))
    net.connect("input", "conv1", Conv2d(_uniform(rng, (16, 1, 5, 5), 25, full_precision)))
    net.population("conv2", IF(), (32, 8, 8))
    net.connect("conv1", "conv2", [AvgPool2d(2), Conv2d(_uniform(rng, (32, 16, 5, 5), 400, full_precision))])
    net.population("fc1", IF(), (128,))
    net.connect("conv2", "fc1", [AvgPool2d(2), Flatten(), Linear(_uniform(rng, (128, 512), 512, full_precision))])
    net.population("fc2", IF(), (10,))
    net.connect("fc1", "fc2", Linear(_uniform(rng, (10, 128), 128, full_precision)))
    return net


BUILDERS = {"mlp": mlp, "lenet": lenet}


def to_snntorch(net: Network):
    """The same feed-forward network as an ``nn.Sequential`` of torch layers and ``snn.Leaky(beta=1)``."""
    import snntorch as snn
    import torch
    from torch import nn

    layers = []
    for proj in net.projections.values():
        for op in proj.ops:
            if isinstance(op, AvgPool2d):
                layers.append(nn.AvgPool2d(op.kernel_size, op.stride, op.padding))
            elif isinstance(op, Flatten):
                layers.append(nn.Flatten())
            elif isinstance(op, Linear):
                layer = nn.Linear(op.weight.shape[1], op.weight.shape[0], bias=False)
                layer.weight.data = torch.from_numpy(op.weight.copy())
                layers.append(layer)
            elif isinstance(op, Conv2d):
                layer = nn.Conv2d(op.weight.shape[1] * op.groups, op.weight.shape[0], op.weight.shape[2:],
                                  op.stride, op.padding, groups=op.groups, bias=False)
                layer.weight.data = torch.from_numpy(op.weight.copy())
                layers.append(layer)
            else:
                raise TypeError(f"no snnTorch equivalent for {type(op).__name__}")
        neuron = net.populations[proj.post].neuron
        layers.append(snn.Leaky(beta=1.0, threshold=float(neuron.v_threshold), reset_mechanism="subtract",
                                init_hidden=True))
    return nn.Sequential(*layers)


def run_snntorch(model, frames):
    """Drive ``model`` with ``frames [T, B, ...]``; returns output spike counts ``[B, ...]``."""
    import snntorch.utils
    import torch

    with torch.no_grad():
        snntorch.utils.reset(model)
        total = 0
        for x in frames:
            total = total + model(x)
    return total
