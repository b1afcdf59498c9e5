"""Read and write NIR graphs (the Neuromorphic Intermediate Representation, pip ``nir``).

NIR nodes are continuous-time; a Network runs in steps of ``dt``. Euler discretisation, as snnTorch
and the other frameworks use (``../shared/reference/neuron-semantics.md`` section 4)::

    LIF, LI        beta  = 1 - dt / tau           v = v_leak + beta (v - v_leak) + g I
    CubaLIF        alpha = 1 - dt / tau_syn       syn = alpha syn + I,  v = ... + syn  (input times g)
    IF, I          beta  = 1

The per-step input gain ``g`` folds into the weights of every projection into the population (and
its bias). Three conventions that frameworks disagree on are read from the graph's metadata (node
metadata first, then the graph's) and otherwise taken from the caller:

- ``dt`` (seconds): needed for tau; snnTorch writes its nodes for dt = 1e-4 and records no dt.
- ``r``: ``"physical"``: g = r dt / tau (LIF, LI), r dt (IF, I), (w_in dt / tau_syn)(r dt / tau_mem)
  (CubaLIF), as NIR's equations say; ``"per_step"``: g = r (times w_in), as sinabs writes r = 1.
- ``reset``: ``"hard"`` (to v_reset, NIR >= 1.0.6, the default) or ``"subtract"`` (NIR <= 1.0.5,
  and what conversion-trained networks need); the reset lands one step after the spike, as in
  snnTorch.

Graphs written here carry all three explicitly (graph metadata ``dt``, ``r``; node metadata
``reset``), with r chosen so that g = 1: r = tau / dt for LIF, r = 1 / dt for IF.
"""
from __future__ import annotations

import os
import re

import numpy as np

from ..files import replacing
from ..errors import ConversionError, ValidationError
from ..network import AvgPool2d, Conv2d, Flatten, Linear, Network, Sparse, SumPool2d
from ..neurons import IF, LIF, CubaLIF

R_CONVENTIONS = ("physical", "per_step")
RESETS = ("hard", "subtract")
_NEURONS = ("IF", "LIF", "CubaLIF", "LI", "I", "Threshold")
_OPS = ("Affine", "Linear", "Conv2d", "SumPool2d", "AvgPool2d", "Flatten", "Scale")


# ---------------------------------------------------------------------------------------------- read

def read_nir(path: str | os.PathLike, **conventions) -> Network:
    """The Network of a NIR file (``nir.read``); ``conventions`` as for ``from_nir``."""
    import nir

    try:
        graph = nir.read(os.fspath(path), type_check=False)
    except (OSError, KeyError, ValueError, TypeError) as e:
        raise ConversionError(f"{os.fspath(path)}: not a readable NIR file ({e})") from None
    return from_nir(graph, **conventions)


def from_nir(graph, *, dt: float | None = None, r: str | None = None, reset: str | None = None) -> Network:
    """The Network of a ``nir.NIRGraph``.

    ``dt``, ``r`` (``"physical"`` or ``"per_step"``) and ``reset`` (``"hard"`` or ``"subtract"``)
    apply where the graph's metadata does not say; a value that contradicts the metadata is an error.
    Defaults where neither says: ``r="physical"``, ``reset="hard"``; ``dt`` has none.
    """
    nodes, edges = _flatten(graph)
    conv = _Conventions(graph.metadata or {}, dt, r, reset)
    inputs = [k for k, n in nodes.items() if type(n).__name__ == "Input"]
    outputs = [k for k, n in nodes.items() if type(n).__name__ == "Output"]
    if len(inputs) != 1:
        raise ConversionError(f"the graph needs exactly one Input node, found {inputs}")
    for key, node in nodes.items():
        kind = type(node).__name__
        if kind not in _NEURONS + _OPS + ("Input", "Output"):
            raise ConversionError(f"node '{key}': {kind} is not supported (supported: "
                                  f"{', '.join(_NEURONS + _OPS)}, Input, Output)")
    fused, edges = _fuse_thresholds(nodes, edges)
    preds = {k: [a for a, b in edges if b == k] for k in nodes}
    pops = _population_order(inputs[0], nodes, edges)
    incoming = {q: _paths(q, nodes, preds, set(pops) | {inputs[0]}) for q in pops}
    shape_of = _shapes(inputs[0], pops, incoming, nodes)
    name_of = {inputs[0]: inputs[0]} | {q: _population_name(q, nodes[q]) for q in pops}
    net = Network()
    net.input(inputs[0], shape_of[inputs[0]])
    projections = []  # (rank, pre, post, ops, name)
    for q in pops:
        gain = conv.gain(q, nodes[q], shape_of[q])
        bias, seen = np.zeros(shape_of[q], np.float32), set()
        for p, chain in incoming[q]:
            ops, biases = _build(q, lambda: _chain_ops(q, chain, nodes, shape_of[p]))
            for key, b in biases:  # a bias node on several paths into q adds once
                if key not in seen:
                    seen.add(key)
                    bias = bias + b
            projections.append((_projection_rank(chain, p, q, nodes, edges), p, q, _apply_gain(q, ops, gain),
                                _projection_name(chain, nodes)))
        neuron = conv.neuron(q, nodes[q], fused.get(q), shape_of[q], bias * gain)
        _build(q, lambda: net.population(name_of[q], neuron, shape_of[q]))
    for _, p, q, ops, name in sorted(projections, key=lambda pr: pr[0]):
        _build(q, lambda: net.connect(name_of[p], name_of[q], ops, name=name))
    outs = [a for o in outputs for a in preds[o]]
    if outputs and (len(outs) != 1 or outs[0] not in pops):
        raise ConversionError(f"the Output node must be fed by exactly one neuron node, got {outs}")
    if outs:
        net.output = name_of[outs[0]]
    return net


def _shapes(inp: str, pops: list, incoming: dict, nodes: dict) -> dict:
    """Each population's shape, from the input along a feed-forward path (populations in order)."""
    shape_of = {inp: _input_shape(nodes[inp])}
    for q in pops:
        p, chain = next(((p, c) for p, c in incoming[q] if p in shape_of), (None, None))
        if p is None:
            raise ConversionError(f"node '{q}': no feed-forward path from the input reaches it")
        shape = shape_of[p]
        for op in _build(q, lambda: _chain_ops(q, chain, nodes, shape))[0]:
            shape = _build(q, lambda: op.output_shape(shape))
        shape_of[q] = shape
    return shape_of


def _population_name(key: str, node) -> str:
    """The population's name: the node's key, or the name its metadata records (written by ``to_nir``)."""
    name = _plain((node.metadata or {}).get("population"))
    return name if isinstance(name, str) and name else key


class _Conventions:
    """dt, r and reset: from node metadata, then graph metadata, then the caller, then the defaults."""

    def __init__(self, metadata: dict, dt, r, reset):
        self.graph = {k: _plain(v) for k, v in metadata.items()}
        self.caller = {"dt": dt, "r": r, "reset": reset}
        for key, value in self.caller.items():
            if value is not None and key in self.graph and self.graph[key] != value:
                raise ConversionError(f"{key}={value!r} contradicts the graph's metadata {key}={self.graph[key]!r}")

    def get(self, key: str, node, default=None):
        meta = {k: _plain(v) for k, v in (getattr(node, "metadata", None) or {}).items()}
        value = meta.get(key, self.graph.get(key, self.caller[key]))
        value = default if value is None else value
        allowed = {"r": R_CONVENTIONS, "reset": RESETS}.get(key)
        if allowed and value not in allowed:
            raise ConversionError(f"{key} must be one of {allowed}, got {value!r}")
        return value

    def dt(self, key: str, node) -> float:
        dt = self.get("dt", node)
        if dt is None:
            raise ConversionError(f"node '{key}': {type(node).__name__} has time constants but dt is unknown: "
                                  "pass dt= (snnTorch writes its graphs for dt=1e-4)")
        if not (isinstance(dt, (int, float)) and np.isfinite(dt) and dt > 0):
            raise ConversionError(f"dt must be a positive number of seconds, got {dt!r}")
        return float(dt)

    def decay(self, key, node, tau) -> np.ndarray:
        tau = _arr(tau, np.float64)
        if (tau <= 0).any() or np.isnan(tau).any():
            raise ConversionError(f"node '{key}': time constants must be > 0, got min {tau.min()}")
        decay = 1.0 - self.dt(key, node) / tau
        if (decay < 0).any():
            raise ConversionError(f"node '{key}': tau < dt gives a negative decay per step; use a smaller dt")
        return decay

    def gain(self, key: str, node, shape: tuple) -> np.ndarray:
        """The per-step input gain of a neuron node, per neuron, rounded to float32."""
        kind = type(node).__name__
        if kind == "Threshold":
            return np.ones(shape, np.float32)
        physical = self.get("r", node, "physical") == "physical"
        g = _arr(node.r, np.float64)
        if physical:
            dt = self.dt(key, node)
            tau = {"LIF": "tau", "LI": "tau", "CubaLIF": "tau_mem"}.get(kind)
            g = g * dt / _arr(getattr(node, tau), np.float64) if tau else g * dt
        if kind == "CubaLIF":
            w_in = _arr(node.w_in, np.float64)
            g = g * (w_in * self.dt(key, node) / _arr(node.tau_syn, np.float64) if physical else w_in)
        if not np.isfinite(g).all():
            raise ConversionError(f"node '{key}': the input gain is not finite (r, tau, w_in); "
                                  "a non-leaky neuron is written as IF, not LIF with tau = inf")
        return _broadcast(key, "input gain", g, shape).astype(np.float32)

    def neuron(self, key, node, threshold, shape, bias):
        """The spiking neuron of a NIR neuron node (``threshold``: a Threshold node fused after it)."""
        kind = type(node).__name__
        p = lambda name, value: _per_neuron(key, name, value, shape)  # noqa: E731
        kw = dict(bias=p("bias", bias))
        if kind in ("IF", "LIF", "CubaLIF"):
            kw.update(v_threshold=p("v_threshold", node.v_threshold), reset=self.get("reset", node, "hard"),
                      v_reset=p("v_reset", 0.0 if node.v_reset is None else node.v_reset))
        else:
            kw.update(reset="none", v_threshold=np.inf if threshold is None else p("threshold", threshold.threshold))
        if kind in ("LIF", "LI", "CubaLIF"):
            tau = node.tau_mem if kind == "CubaLIF" else node.tau
            kw.update(beta=p("beta", self.decay(key, node, tau)), v_leak=p("v_leak", node.v_leak))
        if kind == "CubaLIF":
            kw["alpha"] = p("alpha", self.decay(key, node, node.tau_syn))
        if kind == "Threshold":
            kw.update(beta=0.0, v_threshold=p("threshold", node.threshold))
        model = {"IF": IF, "I": IF, "LIF": LIF, "LI": LIF, "CubaLIF": CubaLIF, "Threshold": LIF}[kind]
        try:
            return model(**kw)
        except ValidationError as e:
            raise ConversionError(f"node '{key}': {e}") from None


def _arr(value, dtype=np.float32) -> np.ndarray:
    """A node parameter as a numpy array (snnTorch's exporter leaves some as torch tensors)."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype)


def _plain(value):
    """A metadata value as a plain Python str or float (h5py returns bytes and numpy scalars)."""
    if isinstance(value, bytes):
        return value.decode("utf8")
    if isinstance(value, np.generic) or (isinstance(value, np.ndarray) and value.ndim == 0):
        return value.item()
    return value


def _broadcast(key, name, value, shape):
    arr = np.asarray(value)
    try:
        if arr.ndim and arr.size == int(np.prod(shape)):
            return arr.reshape(shape)
        return np.broadcast_to(arr, shape)
    except ValueError:
        raise ConversionError(f"node '{key}': {name} has shape {arr.shape}, the layer has shape {shape}") from None


def _per_neuron(key, name, value, shape):
    """A float32 parameter: one float where all neurons share it, else an array of the layer's shape."""
    arr = _broadcast(key, name, _arr(value, np.float64).astype(np.float32), shape)
    first = arr.flat[0] if arr.size else 0.0
    return float(first) if (arr == first).all() else arr.copy()


def _flatten(graph, prefix: str = "") -> tuple[dict, list]:
    """Nodes and edges with nested graphs inlined as ``outer.inner``; their Input/Output become links."""
    nodes, edges, links = {}, [], {}
    for key, node in graph.nodes.items():
        name = prefix + key
        if type(node).__name__ == "NIRGraph":
            inner, inner_edges = _flatten(node, name + ".")
            ins = [k for k, n in node.nodes.items() if type(n).__name__ == "Input"]
            outs = [k for k, n in node.nodes.items() if type(n).__name__ == "Output"]
            if len(ins) != 1 or len(outs) != 1:
                raise ConversionError(f"subgraph '{name}': needs one Input and one Output node")
            links[name] = (f"{name}.{ins[0]}", f"{name}.{outs[0]}")
            for k in (ins[0], outs[0]):
                inner[f"{name}.{k}"] = _Link()
            nodes.update(inner)
            edges += inner_edges
        else:
            nodes[name] = node
    for a, b in graph.edges:
        a, b = prefix + a, prefix + b
        edges.append((links[a][1] if a in links else a, links[b][0] if b in links else b))
    if prefix:
        return nodes, edges
    for key in [k for k, n in nodes.items() if isinstance(n, _Link)]:  # contract the links
        ins = [a for a, b in edges if b == key]
        outs = [b for a, b in edges if a == key]
        edges = [e for e in edges if key not in e] + [(a, b) for a in ins for b in outs]
        del nodes[key]
    for a, b in edges:
        if a not in nodes or b not in nodes:
            raise ConversionError(f"edge ({a!r}, {b!r}) names a node the graph does not have")
    return nodes, edges


class _Link:
    """The Input or Output node of a nested graph: a plain connection once inlined."""


def _fuse_thresholds(nodes, edges) -> tuple[dict, list]:
    """Fold each LI or I node that feeds only a Threshold into one neuron (reset "none").

    Returns ``{LI/I node: Threshold node}`` and the edges with the Threshold's edges moved to the neuron.
    """
    fused = {}
    for key, node in list(nodes.items()):
        outs = [b for a, b in edges if a == key]
        if type(node).__name__ in ("LI", "I") and len(outs) == 1 and type(nodes[outs[0]]).__name__ == "Threshold":
            t = outs[0]
            if [a for a, b in edges if b == t] == [key]:
                fused[key] = nodes.pop(t)
                edges = [(key if a == t else a, b) for a, b in edges if (a, b) != (key, t)]
    return fused, edges


def _population_order(inp, nodes, edges) -> list:
    """Neuron nodes in a topological order of the feed-forward edges (depth first from the input)."""
    return [k for k in _topological(nodes, edges, inp) if k != inp and type(nodes[k]).__name__ in _NEURONS]


def _paths(q, nodes, preds, pops) -> list:
    """Every (population, [op nodes in forward order]) path into population ``q`` through op nodes."""
    out = []

    def back(k, chain, seen):
        for a in preds[k]:
            if a in pops:
                out.append((a, chain))
            elif type(nodes[a]).__name__ in _OPS:
                if a in seen:
                    raise ConversionError(f"node '{a}': a cycle through weights alone has no neuron to delay it")
                back(a, [a] + chain, seen | {a})
            else:
                raise ConversionError(f"node '{a}' ({type(nodes[a]).__name__}) cannot feed '{k}'")

    back(q, [], set())
    if not out:
        raise ConversionError(f"node '{q}': no edge reaches it")
    return out


def _input_shape(node) -> tuple:
    shape = next(iter(node.input_type.values()))
    return tuple(int(s) for s in np.atleast_1d(shape))


def _chain_ops(q, chain, nodes, shape) -> tuple[list, list]:
    """Our ops for a chain of NIR op nodes from ``shape``, and the biases they add: ``[(key, bias)]``.

    A bias is added at its node and carried through the later ops of the chain (Flatten, Scale).
    """
    ops, biases = [], []
    for i, key in enumerate(chain):
        node = nodes[key]
        kind = type(node).__name__
        if kind == "Scale":
            ops.append(_Scale(key, _arr(node.scale)))
        elif kind in ("Affine", "Linear"):
            w = _arr(node.weight)
            sparse = _plain((node.metadata or {}).get("spiking_op")) == "Sparse"
            ops.append(Sparse.from_dense(w) if sparse else Linear(w))
            if kind == "Affine" and np.any(_arr(node.bias)):
                biases.append((i, key, _arr(node.bias).reshape(w.shape[0])))
        elif kind == "Conv2d":
            ops.append(_conv(key, node))
            if node.bias is not None and np.any(_arr(node.bias)):
                biases.append((i, key, _arr(node.bias).reshape(-1, 1, 1)))
        elif kind in ("SumPool2d", "AvgPool2d"):
            cls = SumPool2d if kind == "SumPool2d" else AvgPool2d
            ops.append(cls(_pair(node.kernel_size), _pair(node.stride), _pair(node.padding)))
        elif kind == "Flatten":
            ops.append(_flatten_op(key, node, shape, ops))
    shapes = [shape]
    for op in ops:
        shapes.append(op.output_shape(shapes[-1]) if not isinstance(op, _Scale) else shapes[-1])
    out = []
    for i, key, b in biases:
        b = np.broadcast_to(b, shapes[i + 1]).astype(np.float32)
        for op in ops[i + 1:]:
            if isinstance(op, (_Scale, Flatten)):
                b = b * op.scale_array(b.shape) if isinstance(op, _Scale) else b.reshape(op.output_shape(b.shape))
            else:
                raise ConversionError(f"node '{q}': {type(op).__name__} after the biased node '{key}' is not "
                                      "supported; only Flatten and Scale may follow weights")
        out.append((key, b))
    return _fold_scales(ops, shapes), out


class _Scale:
    """A NIR Scale node, to be folded into the adjacent weights."""

    def __init__(self, key, scale):
        self.key, self.scale = key, scale

    def scale_array(self, shape):
        return _broadcast(self.key, "scale", self.scale, shape)


def _fold_scales(ops, shapes) -> list:
    """Multiply each Scale into the weights right before it (their rows) or right after it (their columns)."""
    out = list(ops)
    for i in [i for i, op in enumerate(ops) if isinstance(op, _Scale)]:
        s = ops[i].scale_array(shapes[i])
        j = next((j for j in (i - 1, i + 1) if 0 <= j < len(ops) and isinstance(ops[j], (Linear, Conv2d))), None)
        if j is None:
            raise ConversionError(f"node '{ops[i].key}': a Scale must sit right before or after weights")
        w = ops[j].weight.copy()
        if isinstance(ops[j], Linear):
            w = w * (s.reshape(-1, 1) if j < i else s.reshape(1, -1))
        else:
            per_channel = s.reshape(s.shape[0], -1)
            if (per_channel != per_channel[:, :1]).any() or (j > i and ops[j].groups != 1):
                raise ConversionError(f"node '{ops[i].key}': a Scale next to a Conv2d must be per channel")
            c = per_channel[:, 0]
            w = w * (c.reshape(-1, 1, 1, 1) if j < i else c.reshape(1, -1, 1, 1))
        out[j] = Linear(w) if isinstance(ops[j], Linear) else Conv2d(w, ops[j].stride, ops[j].padding, ops[j].groups)
    return [op for op in out if not isinstance(op, _Scale)]


def _ints(v):
    return tuple(int(x) for x in np.atleast_1d(_arr(v, np.int64)))


def _pair(v):
    t = _ints(v)
    return t * 2 if len(t) == 1 else t


def _conv(key, node) -> Conv2d:
    weight = _arr(node.weight)
    if _ints(node.dilation) not in ((1,), (1, 1)):
        raise ConversionError(f"node '{key}': Conv2d dilation {node.dilation} is not supported (1 only)")
    padding = node.padding
    if isinstance(padding, (str, bytes)):
        padding = padding.decode() if isinstance(padding, bytes) else padding
        k = weight.shape[2:]
        if padding == "same" and (k[0] % 2 == 0 or k[1] % 2 == 0 or _ints(node.stride) not in ((1,), (1, 1))):
            raise ConversionError(f"node '{key}': padding 'same' needs odd kernels and stride 1, got {k}")
        padding = (0, 0) if padding == "valid" else ((k[0] - 1) // 2, (k[1] - 1) // 2)
    return Conv2d(weight, _pair(node.stride), _pair(padding), int(node.groups))


def _flatten_op(key, node, shape, ops) -> Flatten:
    current = shape
    for op in ops:
        current = current if isinstance(op, _Scale) else op.output_shape(current)
    start, end = int(node.start_dim), int(node.end_dim)
    if start % len(current) != 0 or end % len(current) != len(current) - 1:
        raise ConversionError(f"node '{key}': Flatten must flatten all (non-batch) dimensions, got start_dim "
                              f"{start}, end_dim {end} of shape {current}")
    return Flatten()


def _apply_gain(q, ops, gain: np.ndarray) -> list:
    """Scale the rows of the last weighted op by the neuron's per-step input gain."""
    if (gain == 1).all():
        return ops
    ops = list(ops)
    j = next((j for j in reversed(range(len(ops))) if isinstance(ops[j], (Linear, Sparse, Conv2d))), None)
    if j is None or any(not isinstance(op, Flatten) for op in ops[j + 1:]):
        raise ConversionError(f"node '{q}': an input gain {gain.flat[0]} != 1 needs weights right before it")
    w = ops[j]
    if isinstance(w, Conv2d):
        per_channel = gain.reshape(gain.shape[0], -1) if gain.ndim == 3 else None
        if per_channel is None or (per_channel != per_channel[:, :1]).any():
            raise ConversionError(f"node '{q}': an input gain after a Conv2d must be the same across each channel")
        ops[j] = Conv2d(w.weight * per_channel[:, :1].reshape(-1, 1, 1, 1), w.stride, w.padding, w.groups)
    else:
        dense = w.weight if isinstance(w, Linear) else w.to_dense()
        scaled = dense * gain.reshape(-1, 1)
        ops[j] = Linear(scaled) if isinstance(w, Linear) else Sparse.from_dense(scaled)
    return ops


def _projection_rank(chain, p, q, nodes, edges) -> tuple:
    """Projections in the order ``to_nir`` recorded (metadata), else in the order the graph lists their edges."""
    index = _plain((nodes[chain[0]].metadata or {}).get("projection_index")) if chain else None
    first = edges.index((p, chain[0] if chain else q))
    return (0, index, first) if isinstance(index, int) else (1, first, 0)


def _projection_name(chain, nodes) -> str | None:
    names = {_plain((nodes[k].metadata or {}).get("projection")) for k in chain}
    return names.pop() if len(names) == 1 and None not in names else None


def _build(key, step):
    try:
        return step()
    except ValidationError as e:
        raise ConversionError(f"node '{key}': {e}") from None


# --------------------------------------------------------------------------------------------- write

def to_nir(net: Network, dt: float = 1e-4):
    """The ``nir.NIRGraph`` of ``net`` for time step ``dt`` (seconds; 1e-4 is what snnTorch reads).

    Refuses (ConversionError) what NIR cannot express: refractory periods, an initial membrane,
    a CubaLIF's second current, delays other than the one step of a recurrent edge, and a bias that
    no incoming Linear or per-channel Conv2d can carry.
    """
    import nir

    net.validate()
    if not (np.isfinite(dt) and dt > 0):
        raise ConversionError(f"dt must be a positive number of seconds, got {dt!r}")
    inp = net.input_population
    if inp is None:
        raise ConversionError("NIR needs an Input node: the network has no input population")
    nodes = {inp.name: nir.Input(input_type={"input": np.array(inp.shape)})}
    edges = []
    names = set(net.populations)
    bias_carrier = _bias_carriers(net)
    heads, tails = {inp.name: inp.name}, {inp.name: inp.name}
    for pop in net.order[1:]:
        made = _neuron_nodes(pop, dt)
        nodes.update(made)
        heads[pop.name], tails[pop.name] = list(made)[0], list(made)[-1]
        names.update(made)
        if len(made) == 2:
            edges.append(tuple(made))
    for index, proj in enumerate(net.projections.values()):
        ff = net.rank(proj.pre) < net.rank(proj.post)
        if proj.receptor != "exc":
            raise ConversionError(f"projection '{proj.name}': a CubaLIF's second (inhibitory) current cannot be "
                                  "expressed in NIR")
        if proj.delay != (0 if ff else 1):
            raise ConversionError(f"projection '{proj.name}': delay {proj.delay} cannot be expressed (NIR edges "
                                  "deliver within the step, recurrent ones one step later)")
        pre, shape = tails[proj.pre], net.populations[proj.pre].shape
        for k, op in enumerate(proj.ops):
            key = _free(re.sub(r"[^0-9A-Za-z_]", "_", proj.name) + f"_{k}", names)
            bias = bias_carrier.get(proj.name) if op is proj.weighted else None
            nodes[key] = _op_node(op, shape, bias, {"projection": proj.name, "projection_index": index})
            edges.append((pre, key))
            pre, shape = key, op.output_shape(shape)
        edges.append((pre, heads[proj.post]))
    out = net.populations[net.output_name]
    key = _free("output", names)
    nodes[key] = nir.Output(output_type={"output": np.array(out.shape)})
    edges.append((tails[out.name], key))
    for proj in net.projections.values():
        _nest_recurrent(net, proj, nodes, edges, heads)
    metadata = {"dt": float(dt), "r": "physical", "writer": "spiking"}
    return nir.NIRGraph(nodes=_topological(nodes, edges, inp.name), edges=edges, metadata=metadata, type_check=False)


def _topological(nodes: dict, edges: list, start: str) -> dict:
    """The nodes in a depth-first topological order of the forward edges from ``start`` (back edges
    ignored), then any not reached.

    Graphs are written in this order too: nirtorch 2.6 (under snnTorch's ``import_from_nir``) revisits
    a subgraph whose input it has not built yet, and fails.
    """
    order, seen = [], set()

    def visit(k):
        seen.add(k)
        for a, b in edges:
            if a == k and b not in seen:
                visit(b)
        order.append(k)

    visit(start)
    order = order[::-1] + [k for k in nodes if k not in seen]
    return {k: nodes[k] for k in order}


def _nest_recurrent(net, proj, nodes, edges, heads) -> None:
    """Wrap a 1-D neuron with one weight onto itself in a subgraph {input, lif, w_rec, output}, in place.

    This is the form snnTorch writes for RLeaky and the one its ``import_from_nir`` reads back.
    """
    import nir

    pop = net.populations[proj.post]
    own = [p for p in net.projections.values() if p.pre == p.post == pop.name]
    key = heads[pop.name]
    loop = [(a, b) for a, b in edges if key in (a, b) and (b, a) in edges]
    if proj.pre != proj.post or len(own) != 1 or len(proj.ops) != 1 or len(pop.shape) != 1 or len(loop) != 2:
        return
    w = next(a if b == key else b for a, b in loop)
    lif = nodes.pop(key)
    lif.metadata = {**lif.metadata, "population": pop.name}
    inner = {"input": nir.Input(input_type={"input": np.array(pop.shape)}), "lif": lif, "w_rec": nodes.pop(w),
             "output": nir.Output(output_type={"output": np.array(pop.shape)})}
    nodes[key] = nir.NIRGraph(nodes=inner, edges=[("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"),
                                                  ("lif", "output")], type_check=False)
    edges[:] = [e for e in edges if e not in loop]


def write_nir(net: Network, path: str | os.PathLike, dt: float = 1e-4) -> None:
    """Write ``net`` as a NIR file (``nir.write``), through a temporary file and ``os.replace``."""
    import nir

    graph = to_nir(net, dt)
    with replacing(path) as tmp:
        nir.write(tmp, graph)


def _free(key: str, names: set) -> str:
    k, base, i = key, key, 1
    while k in names:
        i += 1
        k = f"{base}_{i}"
    names.add(k)
    return k


def _bias_carriers(net: Network) -> dict:
    """``{projection: bias}``: for each population with a bias, the incoming projection that carries it."""
    out = {}
    for pop in net.populations.values():
        if pop.is_input or not np.any(pop.neuron.bias):
            continue
        bias = np.broadcast_to(np.asarray(pop.neuron.bias, np.float32).reshape(
            pop.shape if np.ndim(pop.neuron.bias) else ()), pop.shape)
        for proj in net.projections.values():
            w = proj.weighted
            if proj.post != pop.name or isinstance(w, Sparse) or w is None or proj.ops[-1] is not w:
                continue
            if isinstance(w, Linear) or (bias == bias[:, :1, :1]).all():
                out[proj.name] = bias if isinstance(w, Linear) else bias[:, 0, 0]
                break
        else:
            raise ConversionError(f"population '{pop.name}': its bias needs an incoming projection ending in Linear "
                                  "or Conv2d weights (with a bias per channel) to carry it as NIR's Affine/Conv2d bias")
    return out


def _op_node(op, shape, bias, meta: dict):
    """The NIR node of one op; ``meta`` names the projection it belongs to and its place in the network."""
    import nir

    projection = meta["projection"]
    if isinstance(op, Linear):
        w = op.weight
        if bias is None:
            return nir.Linear(weight=w.copy(), metadata=meta)
        return nir.Affine(weight=w.copy(), bias=bias.astype(np.float32), metadata=meta)
    if isinstance(op, Sparse):
        return nir.Linear(weight=op.to_dense(), metadata={**meta, "spiking_op": "Sparse"})
    if isinstance(op, Conv2d):
        b = np.zeros(op.weight.shape[0], np.float32) if bias is None else bias.astype(np.float32)
        return nir.Conv2d(input_shape=tuple(shape[1:]), weight=op.weight.copy(), stride=op.stride,
                          padding=op.padding, dilation=(1, 1), groups=op.groups, bias=b, metadata=meta)
    if isinstance(op, (SumPool2d, AvgPool2d)):
        cls = nir.AvgPool2d if isinstance(op, AvgPool2d) else nir.SumPool2d
        return cls(kernel_size=np.array(op.kernel_size), stride=np.array(op.stride), padding=np.array(op.padding),
                   metadata=meta)
    if isinstance(op, Flatten):
        return nir.Flatten(input_type={"input": np.array(shape)}, start_dim=0, end_dim=-1, metadata=meta)
    raise ConversionError(f"projection '{projection}': {type(op).__name__} has no NIR node")


def _neuron_nodes(pop, dt: float) -> dict:
    """The NIR node(s) of one population: its neuron node, then a Threshold node for reset "none".

    The neuron node's metadata records the reset mode. An LIF with beta = 1 and no leak is an IF.
    """
    import nir

    n, key = pop.neuron, pop.name
    kind = type(n).__name__
    params = {k: np.broadcast_to(np.asarray(v, np.float64).reshape(pop.shape if np.ndim(v) else ()),
                                 pop.shape).astype(np.float32) for k, v in n.params().items()}
    problems = [f"{k} != 0" for k in ("refractory", "v_init") if np.any(params[k])]
    if kind == "CubaLIF" and not np.array_equal(params["alpha"], params["alpha_inh"]):
        problems.append("a second (inhibitory) synaptic current with its own alpha_inh")
    if problems:
        raise ConversionError(f"population '{key}' ({kind}): NIR cannot express " + ", ".join(problems))
    thr = params["v_threshold"]
    spiking = not np.isinf(thr).all()
    if spiking and np.isinf(thr).any():
        raise ConversionError(f"population '{key}': some but not all thresholds are infinite")
    reset = {"subtract": "subtract", "hard": "hard", "none": None}[n.reset] if spiking else None
    meta = {"reset": reset} if reset else {}
    leaky = kind == "CubaLIF" or (kind == "LIF" and ((params["beta"] != 1).any() or params["v_leak"].any()))
    if leaky and (params["beta"] == 1).any():
        raise ConversionError(f"population '{key}': beta = 1 in some neurons gives tau = inf in NIR")
    tau = dt / (1.0 - params["beta"].astype(np.float64)) if leaky else None
    if kind == "CubaLIF":
        if n.reset == "none" or not spiking or (params["alpha"] == 1).any():
            raise ConversionError(f"population '{key}': NIR's CubaLIF needs a spiking, resetting neuron with "
                                  "alpha < 1")
        tau_syn = dt / (1.0 - params["alpha"].astype(np.float64))
        node = nir.CubaLIF(tau_syn=tau_syn, tau_mem=tau, r=tau / dt, v_leak=params["v_leak"], v_threshold=thr,
                           v_reset=params["v_reset"], w_in=tau_syn / dt, metadata=meta)
        return {key: node}
    if reset is None:  # an integrator, with a Threshold node when it spikes
        core = (nir.LI(tau=tau, r=tau / dt, v_leak=params["v_leak"], metadata=meta) if leaky
                else nir.I(r=np.full(pop.shape, 1.0 / dt), metadata=meta))
        return {key: core, **({f"{key}.threshold": nir.Threshold(threshold=thr)} if spiking else {})}
    if leaky:
        return {key: nir.LIF(tau=tau, r=tau / dt, v_leak=params["v_leak"], v_threshold=thr,
                              v_reset=params["v_reset"], metadata=meta)}
    return {key: nir.IF(r=np.full(pop.shape, 1.0 / dt), v_threshold=thr, v_reset=params["v_reset"],
                         metadata=meta)}
