"""Shared helpers of the interop tests: snnTorch as the reference, our networks layer by layer."""
from __future__ import annotations

import numpy as np
import torch

import spiking as sp


def snntorch_trace(model, x: np.ndarray) -> dict:
    """``{layer name: (spikes [T, B, ...], membrane [T, B, ...])}`` of every snnTorch neuron layer.

    Recorded by forward hooks while snnTorch's own forward runs ``x[t]`` step by step from zero state.
    A model built by ``import_from_nir`` (a nirtorch GraphModule) returns ``(output, state)`` and is
    given its state back at the next step, which carries its recurrent edges.
    """
    import snntorch as snn

    layers = {name: m for name, m in model.named_modules() if isinstance(m, snn.SpikingNeuron)}
    out = {name: ([], []) for name in layers}

    def hook(name):
        def record(module, inputs, output):
            spk = output[0] if isinstance(output, tuple) else output
            out[name][0].append(spk.detach().numpy().copy())
            out[name][1].append(module.mem.detach().numpy().copy())
        return record

    handles = [m.register_forward_hook(hook(name)) for name, m in layers.items()]
    try:
        for m in layers.values():
            m.reset_mem()
        stateful = isinstance(model, torch.fx.GraphModule)
        state = None
        with torch.no_grad():
            for t in range(x.shape[0]):
                xt = torch.from_numpy(np.ascontiguousarray(x[t], np.float32))
                if stateful:
                    _, state = model(xt, state)
                else:
                    model(xt)
    finally:
        for h in handles:
            h.remove()
    return {name: (np.stack(s), np.stack(m)) for name, (s, m) in out.items()}


def our_trace(net: sp.Network, stim: sp.Stimulus, backend: str, steps: int | None = None) -> dict:
    """``{population: (spikes [T, B, ...], membrane [T, B, ...])}`` of every neuron population of ``net``."""
    names = [p.name for p in net.order if not p.is_input]
    output = net.output
    out = {}
    try:
        for name in names:
            net.output = name
            res = sp.run(net, stim, steps, backend=backend, record=[name], record_membrane=True)
            out[name] = (res.recorded[name], res.membrane_trace)
    finally:
        net.output = output
    return out


def dyadic_tensor(rng: np.random.Generator, shape, scale: int = 256, max_k: int = 256) -> torch.Tensor:
    """float32 k/scale, |k| <= max_k: every partial sum exact in float32."""
    return torch.from_numpy((rng.integers(-max_k, max_k + 1, size=shape) / scale).astype(np.float32))


def set_dyadic(model, rng: np.random.Generator, max_k: int = 256, scale: int = 256) -> None:
    """Overwrite every weight and bias of ``model``'s torch layers with dyadic values k/scale."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d)):
                m.weight.copy_(dyadic_tensor(rng, m.weight.shape, scale, max_k=max_k * scale // 256))
                if m.bias is not None:
                    m.bias.copy_(dyadic_tensor(rng, m.bias.shape, scale, max_k=max_k * scale // 1024))
