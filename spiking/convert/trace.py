"""Trace a torch model (torch.fx) into spiking layers described in the ANN's own units.

Every activation (ReLU, clipped ReLU, QCFS) becomes a layer of spiking neurons. Its input is an
``Affine`` value: a sum of ``Term`` chains (pooling, flatten, at most one Linear/Conv2d) applied to
earlier layers' outputs or to the network input, plus a bias map. BatchNorm folds into the weights
before it, residual additions merge the terms of both branches, Dropout and Identity vanish. A node
that cannot be expressed this way raises a ``ConversionError`` naming it.
"""
from __future__ import annotations

import operator
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import fx, nn
from torch.fx.passes.shape_prop import ShapeProp

from ..errors import ConversionError
from .qcfs import QCFS

INPUT = "input"


@dataclass(frozen=True)
class Pool:
    """Average (or count-gated max) pooling over ``kernel`` windows."""

    kind: str
    kernel: tuple
    stride: tuple
    padding: tuple

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "max":
            return F.max_pool2d(x[None], self.kernel, self.stride, self.padding)[0]
        return F.avg_pool2d(x[None], self.kernel, self.stride, self.padding)[0]


@dataclass(frozen=True)
class Flat:
    def apply(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(-1)


@dataclass(frozen=True, eq=False)
class Weighted:
    """A Linear (``conv`` None) or Conv2d (``conv`` = (stride, padding, groups)) weight in float64."""

    weight: torch.Tensor
    conv: tuple | None = None

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        if self.conv is None:
            return self.weight @ x
        stride, padding, groups = self.conv
        return F.conv2d(x[None], self.weight, None, stride, padding, 1, groups)[0]

    def scale_outputs(self, factor: torch.Tensor) -> "Weighted":
        return replace(self, weight=self.weight * factor.reshape((-1,) + (1,) * (self.weight.dim() - 1)))


@dataclass(frozen=True)
class Term:
    """``chain`` applied, first to last, to the output of layer ``source`` (or the network input)."""

    source: str
    chain: tuple = ()

    @property
    def weighted(self) -> Weighted | None:
        return next((op for op in self.chain if isinstance(op, Weighted)), None)


@dataclass(frozen=True, eq=False)
class Affine:
    """A value in ANN units: the sum of its terms plus ``bias`` (a per-sample map, or None for zero)."""

    terms: tuple
    bias: torch.Tensor | None
    shape: tuple

    def then(self, op, shape: tuple, bias: torch.Tensor | None = None) -> "Affine":
        """``op`` applied to this value, plus a per-channel ``bias``."""
        terms = tuple(Term(t.source, t.chain + (op,)) for t in self.terms)
        new_bias = op.apply(self.bias) if self.bias is not None else None
        if bias is not None:
            per_channel = bias.reshape((-1,) + (1,) * (len(shape) - 1)).expand(shape)
            new_bias = per_channel + (0 if new_bias is None else new_bias)
        return Affine(terms, new_bias, shape)


@dataclass(frozen=True, eq=False)
class Layer:
    """One spiking layer: the activation node it replaces and its input in ANN units.

    ``ceiling`` is the activation's fixed upper bound (ReLU6, clamp) or None; ``levels`` and the
    ceiling come from a QCFS activation, which fixes the layer's scale without calibration.
    """

    name: str
    node: str
    path: str
    shape: tuple
    input: Affine
    ceiling: float | None = None
    levels: int | None = None


@dataclass(frozen=True, eq=False)
class Traced:
    """The layers in topological order, the readout's input, and the graph to calibrate with."""

    input_shape: tuple
    layers: tuple
    readout: Affine
    module: fx.GraphModule


def _where(node: fx.Node) -> str:
    target = node.target if isinstance(node.target, str) else getattr(node.target, "__name__", str(node.target))
    return f"node '{node.name}' ({node.op} {target})"


def _fail(node: fx.Node, why: str) -> ConversionError:
    return ConversionError(f"{_where(node)}: {why}")


def _pair(v) -> tuple:
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def _shape(node: fx.Node) -> tuple:
    return tuple(node.meta["tensor_meta"].shape[1:])


class _Tracer:
    def __init__(self, gm: fx.GraphModule):
        self.gm = gm
        self.modules = dict(gm.named_modules())
        self.values: dict = {}
        self.layers: list = []
        self.input_shape = None

    def value(self, node, user: fx.Node) -> Affine:
        if not isinstance(node, fx.Node) or node not in self.values or not isinstance(self.values[node], Affine):
            raise _fail(user, f"expects a tensor computed by the traced graph, got {node!r}")
        return self.values[node]

    def run(self) -> Traced:
        readout = None
        for node in self.gm.graph.nodes:
            if node.op == "placeholder":
                if self.input_shape is not None:
                    raise _fail(node, "the model must take one input tensor")
                self.input_shape = _shape(node)
                self.values[node] = Affine((Term(INPUT),), None, self.input_shape)
            elif node.op == "output":
                out = node.args[0]
                readout = self.value(out[0] if isinstance(out, (tuple, list)) and len(out) == 1 else out, node)
            elif node.op == "call_module":
                self.values[node] = self.call_module(node, self.modules[node.target])
            elif node.op in ("call_function", "call_method"):
                self.values[node] = self.call_function(node)
            else:
                raise _fail(node, "parameters and buffers used as tensors are not supported; wrap them in a module")
        return Traced(self.input_shape, tuple(self.layers), self._readout(readout), self.gm)

    def _readout(self, value: Affine) -> Affine:
        """A model that ends in an activation is read out before it (argmax is unchanged)."""
        if len(value.terms) == 1 and not value.terms[0].chain and value.bias is None:
            last = next((layer for layer in self.layers if layer.name == value.terms[0].source), None)
            if last is not None:
                return last.input
        return value

    # modules ------------------------------------------------------------------------------------
    def call_module(self, node: fx.Node, m: nn.Module):
        x = self.value(node.args[0], node) if node.args else None
        if isinstance(m, (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Identity)):
            return x
        if isinstance(m, nn.Linear):
            return self.weighted(node, x, Weighted(m.weight.detach().double()), m.bias)
        if isinstance(m, nn.Conv2d):
            if _pair(m.dilation) != (1, 1) or m.padding_mode != "zeros" or isinstance(m.padding, str):
                raise _fail(node, f"Conv2d '{node.target}' needs dilation 1, zero padding given as numbers "
                                  f"(got dilation {m.dilation}, padding {m.padding!r}, mode {m.padding_mode})")
            conv = (_pair(m.stride), _pair(m.padding), m.groups)
            return self.weighted(node, x, Weighted(m.weight.detach().double(), conv), m.bias)
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            return self.batchnorm(node, x, m)
        if isinstance(m, QCFS):
            return self.activation(node, x, float(m.ceiling.detach()), int(m.levels))
        if isinstance(m, nn.ReLU):
            return self.activation(node, x, None)
        if isinstance(m, nn.ReLU6):
            return self.activation(node, x, 6.0)
        if isinstance(m, nn.Hardtanh):
            return self.clamp(node, x, m.min_val, m.max_val)
        if isinstance(m, nn.AvgPool2d):
            return self.avg_pool(node, x, m.kernel_size, m.stride, m.padding, m.ceil_mode, m.count_include_pad,
                                 m.divisor_override)
        if isinstance(m, nn.AdaptiveAvgPool2d):
            return self.adaptive_pool(node, x, m.output_size)
        if isinstance(m, nn.MaxPool2d):
            return self.max_pool(node, x, m.kernel_size, m.stride, m.padding, m.dilation, m.ceil_mode)
        if isinstance(m, nn.Flatten):
            return self.reshape(node, x)
        raise _fail(node, f"module '{node.target}' of type {type(m).__name__} cannot be converted; supported: "
                          "Linear, Conv2d, BatchNorm1d/2d after them, ReLU, ReLU6, Hardtanh(0, max), QCFS, "
                          "AvgPool2d, AdaptiveAvgPool2d, MaxPool2d, Flatten, Dropout, Identity")

    # functions and methods ----------------------------------------------------------------------
    def call_function(self, node: fx.Node):
        f, args, kw = node.target, node.args, node.kwargs
        name = f if isinstance(f, str) else getattr(f, "__name__", "")
        if name == "size":
            return None
        x = self.value(args[0], node) if args and isinstance(args[0], fx.Node) and args[0] in self.values \
            and self.values[args[0]] is not None else None
        if f in (operator.add, operator.iadd, torch.add) or name in ("add", "add_", "__add__", "__iadd__"):
            return self.add(node)
        if x is None:
            raise _fail(node, "expects a tensor from the traced graph as its first argument")
        if f in (F.relu, torch.relu, torch.relu_) or name in ("relu", "relu_"):
            return self.activation(node, x, None)
        if f is F.relu6:
            return self.activation(node, x, 6.0)
        if f is F.hardtanh or name in ("hardtanh", "hardtanh_"):
            return self.clamp(node, x, args[1] if len(args) > 1 else kw.get("min_val", -1.0),
                              args[2] if len(args) > 2 else kw.get("max_val", 1.0))
        if f in (torch.clamp, torch.clip) or name in ("clamp", "clip", "clamp_", "clamp_min", "clamp_min_"):
            lo = args[1] if len(args) > 1 else kw.get("min")
            hi = args[2] if len(args) > 2 else kw.get("max")
            return self.clamp(node, x, lo, hi)
        if f in (torch.flatten,) or name in ("flatten", "view", "reshape"):
            return self.reshape(node, x)
        if f is F.avg_pool2d:
            params = dict(zip(("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad",
                               "divisor_override"), args[1:]), **kw)
            return self.avg_pool(node, x, params["kernel_size"], params.get("stride"), params.get("padding", 0),
                                 params.get("ceil_mode", False), params.get("count_include_pad", True),
                                 params.get("divisor_override"))
        if f is F.adaptive_avg_pool2d:
            return self.adaptive_pool(node, x, args[1] if len(args) > 1 else kw["output_size"])
        if f is F.max_pool2d or name == "max_pool2d":
            params = dict(zip(("kernel_size", "stride", "padding", "dilation", "ceil_mode"), args[1:]), **kw)
            return self.max_pool(node, x, params["kernel_size"], params.get("stride"), params.get("padding", 0),
                                 params.get("dilation", 1), params.get("ceil_mode", False))
        if f is F.dropout or name in ("dropout", "contiguous"):
            return x
        raise _fail(node, "this operation cannot be converted; supported functions: relu, relu6, hardtanh and "
                          "clamp with a zero floor, add, flatten/view/reshape to one dimension, avg_pool2d, "
                          "adaptive_avg_pool2d, max_pool2d, dropout")

    # the conversions ----------------------------------------------------------------------------
    def weighted(self, node, x: Affine, op: Weighted, bias) -> Affine:
        for term in x.terms:
            if term.weighted is not None:
                raise _fail(node, "a second Linear/Conv2d without an activation in between; the runtime needs "
                                  "a spiking layer between weighted layers (or fold them into one)")
        bias = None if bias is None else bias.detach().double()
        return x.then(op, _shape(node), bias)

    def batchnorm(self, node, x: Affine, m) -> Affine:
        if not all(t.weighted is not None and isinstance(t.chain[-1], Weighted) for t in x.terms):
            raise _fail(node, f"BatchNorm '{node.target}' must follow a Conv2d or Linear directly to be folded "
                              "into its weights")
        if m.running_var is None:
            raise _fail(node, f"BatchNorm '{node.target}' has no running statistics (track_running_stats=False)")
        std = torch.sqrt(m.running_var.double() + m.eps)
        gamma = m.weight.detach().double() if m.weight is not None else torch.ones_like(std)
        beta = m.bias.detach().double() if m.bias is not None else torch.zeros_like(std)
        factor = gamma / std
        shape = _shape(node)
        per_channel = (-1,) + (1,) * (len(shape) - 1)
        terms = tuple(Term(t.source, t.chain[:-1] + (t.chain[-1].scale_outputs(factor),)) for t in x.terms)
        mean = m.running_mean.double().reshape(per_channel)
        bias = (0 if x.bias is None else x.bias) - mean
        bias = bias * factor.reshape(per_channel) + beta.reshape(per_channel)
        return Affine(terms, torch.broadcast_to(bias, shape).clone(), shape)

    def activation(self, node, x: Affine, ceiling: float | None, levels: int | None = None) -> Affine:
        path = node.target if node.op == "call_module" else node.name
        taken = {layer.name for layer in self.layers} | {INPUT, "output"}
        name = path if path not in taken else node.name
        self.layers.append(Layer(name, node.name, path, _shape(node), x, ceiling, levels))
        return Affine((Term(name),), None, _shape(node))

    def clamp(self, node, x: Affine, lo, hi) -> Affine:
        if lo is None or float(lo) != 0.0:
            raise _fail(node, f"a clamp converts only with a floor of 0 (a clipped ReLU), got min={lo}")
        if hi is not None and not float(hi) > 0:
            raise _fail(node, f"a clipped ReLU needs a ceiling > 0, got max={hi}")
        return self.activation(node, x, None if hi is None else float(hi))

    def add(self, node: fx.Node) -> Affine:
        a, b = node.args[0], node.args[1] if len(node.args) > 1 else node.kwargs.get("other")
        if "alpha" in node.kwargs or len(node.args) > 2:
            raise _fail(node, "add with alpha is not supported")
        x, y = self.value(a, node), self.value(b, node)
        if x.shape != y.shape:
            raise _fail(node, f"adds shapes {x.shape} and {y.shape}; broadcasting additions are not supported")
        bias = x.bias if y.bias is None else (y.bias if x.bias is None else x.bias + y.bias)
        return Affine(x.terms + y.terms, bias, x.shape)

    def reshape(self, node, x: Affine) -> Affine:
        shape = _shape(node)
        if shape == x.shape:
            return x
        if len(shape) != 1:
            raise _fail(node, f"reshapes {x.shape} to {shape}; only flattening to one dimension per sample converts")
        return x.then(Flat(), shape)

    def avg_pool(self, node, x, kernel, stride, padding, ceil_mode, count_include_pad, divisor) -> Affine:
        kernel = _pair(kernel)
        stride = kernel if stride is None or stride == [] else _pair(stride)
        padding = _pair(padding)
        if ceil_mode or divisor is not None or (any(padding) and not count_include_pad):
            raise _fail(node, "avg_pool2d converts with ceil_mode=False, no divisor_override, and padding "
                              "counted in the mean")
        return self._pool(node, x, Pool("avg", kernel, stride, padding))

    def adaptive_pool(self, node, x, output_size) -> Affine:
        h, w = x.shape[1:]
        out = tuple(o if o is not None else s for o, s in zip(_pair(output_size), (h, w)))
        if h % out[0] or w % out[1]:
            raise _fail(node, f"adaptive average pooling from {(h, w)} to {out} is not a fixed window")
        kernel = (h // out[0], w // out[1])
        return self._pool(node, x, Pool("avg", kernel, kernel, (0, 0)))

    def max_pool(self, node, x, kernel, stride, padding, dilation, ceil_mode) -> Affine:
        kernel = _pair(kernel)
        stride = kernel if stride is None or stride == [] else _pair(stride)
        if ceil_mode or _pair(dilation) != (1, 1) or any(_pair(padding)):
            raise _fail(node, "max_pool2d converts with no padding, dilation 1 and ceil_mode=False")
        if len(x.terms) != 1 or x.terms[0].chain or x.bias is not None:
            raise _fail(node, "max pooling converts only directly after an activation (it gates that layer's "
                              "spikes by their running counts)")
        return self._pool(node, x, Pool("max", kernel, stride, (0, 0)))

    def _pool(self, node, x: Affine, pool: Pool) -> Affine:
        if len(x.shape) != 3:
            raise _fail(node, f"pooling expects (C, H, W) per sample, got {x.shape}")
        terms = []
        for term in x.terms:
            if term.weighted is not None:
                if pool.kind != "avg" or any(pool.padding):
                    raise _fail(node, "pooling after a convolution converts only as average pooling without padding")
                terms.append(Term(term.source, term.chain[:-1] + (_pooled_conv(term.chain[-1], pool),)))
            elif any(isinstance(op, Pool) for op in term.chain):
                raise _fail(node, "a second pooling without an activation in between; the runtime allows one pool "
                                  "per connection")
            else:
                terms.append(Term(term.source, term.chain + (pool,)))
        bias = pool.apply(x.bias) if x.bias is not None else None
        return Affine(tuple(terms), bias, _shape(node))


def _pooled_conv(conv: Weighted, pool: Pool) -> Weighted:
    """The one convolution equal to ``conv`` followed by average ``pool`` (no pool padding)."""
    (sh, sw), padding, groups = conv.conv
    out, c_in, kh, kw = conv.weight.shape
    (ah, aw), (th, tw) = pool.kernel, pool.stride
    weight = torch.zeros((out, c_in, (ah - 1) * sh + kh, (aw - 1) * sw + kw), dtype=conv.weight.dtype)
    for u in range(ah):
        for v in range(aw):
            weight[:, :, u * sh:u * sh + kh, v * sw:v * sw + kw] += conv.weight / (ah * aw)
    return Weighted(weight, ((sh * th, sw * tw), padding, groups))


class _LeafTracer(fx.Tracer):
    """torch.fx's tracer, keeping QCFS activations as single nodes."""

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return isinstance(m, QCFS) or super().is_leaf_module(m, qualname)


def trace(model: nn.Module, example: torch.Tensor) -> Traced:
    """Trace ``model`` (in eval mode) with an example batch, to the layers of its spiking twin."""
    try:
        gm = fx.GraphModule(model, _LeafTracer().trace(model))
    except Exception as e:
        raise ConversionError(f"torch.fx could not trace {type(model).__name__}: {e}") from e
    gm.eval()
    with torch.no_grad():
        ShapeProp(gm).propagate(example)
    return _Tracer(gm).run()
