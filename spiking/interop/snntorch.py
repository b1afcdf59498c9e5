"""Import an snnTorch ``nn.Sequential`` as a Network that spikes and integrates like snnTorch.

Each neuron layer (``snn.Leaky``, ``snn.Synaptic``, ``snn.RLeaky``, all with ``init_hidden=True``)
becomes a population named after the layer; the torch layers before it (Linear, Conv2d, AvgPool2d,
Flatten) become the ops of its incoming projection, and their biases its ``bias``. snnTorch 1.0.0's
update (``../shared/reference/neuron-semantics.md`` sections 1 and 3, checked in its source):

- ``Leaky``: ``m = beta m + I - r theta`` (subtract) or ``beta (1 - r) m + I`` (zero), with
  ``r = [m_prev > theta]``: our LIF with reset ``"subtract"`` or ``"hard"`` to 0.
- ``Synaptic``: ``syn = alpha syn + I``, ``m = beta m + syn - r theta``: our CubaLIF. Its zero reset
  is ``(1 - r)(beta m + syn)``: the membrane sits at 0 for the step after a spike, input included,
  and cannot spike there (theta > 0): our hard reset to 0 with one refractory step.
- ``RLeaky``: Leaky plus ``recurrent(spk_prev)`` (a Linear, a same-padded Conv2d, or ``V * spk``
  one to one): a recurrent projection onto itself, which delivers one step later. Its zero reset
  ``base - r base`` is, like Synaptic's, a hard reset with one refractory step.

Parameters are read as snnTorch uses them (``beta.clamp(0, 1)``, float32), broadcast per neuron.
"""
from __future__ import annotations

import numpy as np

from ..errors import ConversionError, ValidationError
from ..network import AvgPool2d, Conv2d, Flatten, Linear, Network, Sparse
from ..neurons import LIF, CubaLIF

_RESETS = {"_base_sub": "subtract", "_base_zero": "hard", "_base_int": "none"}


def from_snntorch(model, input_shape, input_name: str = "input") -> Network:
    """The Network of an snnTorch ``nn.Sequential``; ``input_shape`` excludes the batch (e.g. ``(1, 28, 28)``).

    The last layer must be a neuron layer: it becomes the network's output. Raises ConversionError
    naming the layer where snnTorch's behaviour cannot be reproduced exactly.
    """
    import snntorch as snn
    import torch
    from torch import nn

    if not isinstance(model, nn.Sequential):
        raise ConversionError(f"from_snntorch takes an nn.Sequential, got {type(model).__name__}")
    neurons = {snn.Leaky: _leaky, snn.Synaptic: _synaptic, snn.RLeaky: _rleaky}
    children = list(model.named_children())
    if not children or not isinstance(children[-1][1], snn.SpikingNeuron):
        raise ConversionError("the model must end with a neuron layer (snn.Leaky, snn.Synaptic or snn.RLeaky), "
                              f"got {type(children[-1][1]).__name__ if children else 'an empty Sequential'}")
    net = Network()
    pre = _build(input_name, lambda: net.input(input_name, input_shape))
    ops = []
    with torch.no_grad():
        h = torch.zeros((1,) + net.populations[pre].shape)  # zero activity: the layers yield their bias
        for k, (name, layer) in enumerate(children):
            if isinstance(layer, snn.SpikingNeuron) and type(layer) not in neurons:
                raise ConversionError(f"layer '{name}': snn.{type(layer).__name__} is not supported "
                                      "(snn.Leaky, snn.Synaptic and snn.RLeaky are)")
            if type(layer) in neurons:
                if not ops:
                    raise ConversionError(f"layer '{name}': a neuron layer needs weights before it")
                _check_neuron(name, layer, last=k == len(children) - 1)
                shape = tuple(h.shape[1:])
                neuron, recurrent = neurons[type(layer)](name, layer, shape, h[0].numpy())
                _build(name, lambda: net.population(name, neuron, shape))
                _build(name, lambda: net.connect(pre, name, ops))
                if recurrent is not None:
                    _build(name, lambda: net.connect(name, name, recurrent, name=f"{name}.recurrent"))
                pre, ops = name, []
                h = torch.zeros_like(h)
                continue
            if isinstance(layer, (nn.Identity, nn.Dropout)):
                continue
            op = _torch_op(name, layer)
            if isinstance(op, AvgPool2d) and any(isinstance(o, (Linear, Conv2d)) for o in ops):
                raise ConversionError(f"layer '{name}': pooling after weights is not supported; place the pooling "
                                      "after the neuron layer, on its spikes")
            ops.append(op)
            h = layer(h)
    return net


def _build(layer: str, step):
    try:
        return step()
    except ValidationError as e:
        raise ConversionError(f"layer '{layer}': {e}") from None


def _torch_op(name: str, layer):
    """The projection op of one torch layer."""
    from torch import nn

    if isinstance(layer, nn.Linear):
        return Linear(layer.weight.detach().numpy().copy())
    if isinstance(layer, nn.Conv2d):
        if layer.dilation != (1, 1) or layer.padding_mode != "zeros":
            raise ConversionError(f"layer '{name}': Conv2d with dilation {layer.dilation} or padding_mode "
                                  f"'{layer.padding_mode}' is not supported (dilation 1, zero padding)")
        padding = layer.padding
        if isinstance(padding, str):  # 'valid' or 'same' (stride 1): torch pads the extra row at the end
            k = layer.kernel_size
            if padding == "same" and (k[0] % 2 == 0 or k[1] % 2 == 0):
                raise ConversionError(f"layer '{name}': padding='same' with an even kernel {k} pads unevenly")
            padding = (0, 0) if padding == "valid" else ((k[0] - 1) // 2, (k[1] - 1) // 2)
        return Conv2d(layer.weight.detach().numpy().copy(), layer.stride, padding, layer.groups)
    if isinstance(layer, nn.AvgPool2d):
        if layer.ceil_mode or layer.divisor_override is not None or (not layer.count_include_pad and layer.padding):
            raise ConversionError(f"layer '{name}': AvgPool2d with ceil_mode, divisor_override or "
                                  "count_include_pad=False is not supported")
        return AvgPool2d(layer.kernel_size, layer.stride, layer.padding)
    if isinstance(layer, nn.Flatten):
        if layer.start_dim != 1 or layer.end_dim != -1:
            raise ConversionError(f"layer '{name}': only Flatten(start_dim=1, end_dim=-1) is supported")
        return Flatten()
    if isinstance(layer, (nn.MaxPool2d, nn.AdaptiveMaxPool2d)):
        raise ConversionError(f"layer '{name}': max pooling of spikes is a logical OR, not a linear projection; "
                              "use AvgPool2d (or SumPool2d in NIR)")
    raise ConversionError(f"layer '{name}': {type(layer).__name__} is not supported (Linear, Conv2d, AvgPool2d, "
                          "Flatten, Identity, Dropout and snn.Leaky/Synaptic/RLeaky are)")


def _check_neuron(name: str, layer, last: bool) -> None:
    """Refuse the options whose behaviour the runtime does not reproduce."""
    import torch

    problems = []
    if not layer.init_hidden:
        problems.append("init_hidden=False (a layer inside nn.Sequential needs init_hidden=True)")
    if layer.output and not last:
        problems.append("output=True before the last layer (it returns a tuple to the next layer)")
    if layer.inhibition:
        problems.append("inhibition=True (winner-take-all across the batch row)")
    if layer.state_quant:
        problems.append("state_quant (quantised state)")
    if not torch.equal(layer.graded_spikes_factor.detach().float(), torch.tensor(1.0)):
        problems.append("graded_spikes_factor != 1 (graded spikes)")
    if not layer.reset_delay:
        problems.append("reset_delay=False (immediate reset; the runtime applies snnTorch's default delayed reset)")
    probe = torch.tensor([-1.0, 0.0, 2.0 ** -24, 1.0])
    with torch.no_grad():
        if not torch.equal(layer.spike_grad(probe).float(), torch.tensor([0.0, 0.0, 1.0, 1.0])):
            problems.append("a spike_grad whose forward is not the strict threshold (x > 0)")
    if getattr(layer.state_function, "__name__", None) not in _RESETS:
        problems.append(f"an unknown state_function {layer.state_function!r}")
    if problems:
        raise ConversionError(f"layer '{name}' ({type(layer).__name__}): not supported: " + "; ".join(problems))


def _param(name: str, key: str, value, shape: tuple):
    """A parameter as snnTorch applies it to ``[B, *shape]``: a float, or a float32 array per neuron."""
    arr = value.detach().float().numpy()
    if arr.ndim == 0:
        return float(arr)
    try:
        return np.broadcast_to(arr, (1,) + shape)[0].copy()
    except ValueError:
        raise ConversionError(f"layer '{name}': {key} of shape {arr.shape} does not broadcast to the layer's "
                              f"shape {shape}") from None


def _lif_kwargs(name: str, layer, shape: tuple, bias, zero_holds: bool = False) -> dict:
    """LIF parameters; ``zero_holds``: the zero reset also discards the next step's input (see module doc)."""
    reset = _RESETS[layer.state_function.__name__]
    refractory = 1 if zero_holds and reset == "hard" else 0
    return dict(beta=_param(name, "beta", layer.beta.clamp(0, 1), shape),
                v_threshold=_param(name, "threshold", layer.threshold, shape),
                reset=reset, v_reset=0.0, refractory=refractory, bias=_bias(bias))


def _bias(bias: np.ndarray):
    return 0.0 if not bias.any() else bias.astype(np.float32)


def _leaky(name, layer, shape, bias):
    return _neuron(name, LIF, _lif_kwargs(name, layer, shape, bias)), None


def _synaptic(name, layer, shape, bias):
    kw = _lif_kwargs(name, layer, shape, bias, zero_holds=True)
    kw["alpha"] = _param(name, "alpha", layer.alpha.clamp(0, 1), shape)
    return _neuron(name, CubaLIF, kw), None


def _rleaky(name, layer, shape, bias):
    """LIF plus the recurrent projection; the recurrent layer's bias joins the neuron's bias."""
    import torch
    from torch import nn

    rec = layer.recurrent
    with torch.no_grad():
        bias = bias + rec(torch.zeros((1,) + shape))[0].numpy()
    if isinstance(rec, nn.Linear):
        op = Linear(rec.weight.detach().numpy().copy())
    elif isinstance(rec, nn.Conv2d):
        op = _torch_op(name, rec)
    else:  # one to one: spk * V
        if len(shape) != 1:
            raise ConversionError(f"layer '{name}': one-to-one RLeaky (all_to_all=False) is supported on flat "
                                  f"layers only, got shape {shape}")
        v = np.broadcast_to(rec.V.detach().float().numpy() if torch.is_tensor(rec.V) else np.float32(rec.V), shape)
        op = Sparse.from_dense(np.diag(v))
    return _neuron(name, LIF, _lif_kwargs(name, layer, shape, bias, zero_holds=True)), op


def _neuron(name: str, model, kwargs: dict):
    try:
        return model(**kwargs)
    except ValidationError as e:
        raise ConversionError(f"layer '{name}': {e}") from None
