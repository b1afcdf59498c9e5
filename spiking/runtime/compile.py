"""Compile a network once into the flat arrays the kernels run on.

Every projection becomes one of four kernel operations on presynaptic neuron indices:
DENSE (a row of ``weight.T`` per presynaptic neuron, stored as int8 codes and column scales where
that is exact: ``spiking.runtime.codes``), CSR (only the non-zero synapses), CONV
(convolution fan-out, computed per event) or SPARSE_CONV, a convolution whose weights are mostly
zero (pruned: at most ``SPARSE_CONV_DENSITY`` of them non-zero), computed per event like CONV but
through its non-zero kernel weights only, so that zero weights cost no time. SPARSE_CONV keeps its
non-zero weights in the CSR arrays: per kernel tap ``(c_in, dy, dx flipped)`` a pointer, and per
weight its position ``dx_flipped * c_out_group + o`` and value. A tiling pool before a
convolution stays in front of it (a spike enters the pooled pixel it falls in, scaled by the pool's
factor); a pool before
Linear/Sparse weights becomes rows of the composite matrix; a pool on its own is a depthwise
convolution. ``fanout[j]`` counts the non-zero synapses a spike of presynaptic neuron ``j``
reaches through pool and weights: its synaptic events.

A network whose neurons are all ``FixedLIF`` compiles to integer arrays (int64 weights and neuron
parameters) and runs in integer arithmetic; see ``fixed_arithmetic``.

Populations that receive a convolution are stored channel-last (H, W, C) inside the kernel, so that
one event adds into consecutive output channels (vector adds); ``Plan.perm`` maps each internal
position back to the population's C-order index, and results are returned in C order.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import ValidationError
from ..network import Network
from ..network.ops import AvgPool2d, Conv2d, Linear, MaxPool2d, Sparse
from ..neurons import RESETS, FixedLIF
from .codes import int8_codes

DENSE, CSR, CONV, SPARSE_CONV = 0, 1, 2, 3
SPARSE_CONV_DENSITY = 0.05
CONV_FIELDS = ("c_in", "h", "w", "c_out", "h_out", "w_out", "kh", "kw", "sh", "sw", "ph", "pw",
               "c_in_group", "c_out_group")


@dataclass(frozen=True)
class KernelOp:
    """One projection in kernel form, before concatenation."""

    kind: int
    weights: np.ndarray                 # DENSE: [n_pre, n_post]; CSR, SPARSE_CONV: values;
                                        # CONV: [C_in, kh, kw (flipped), C_out/groups]
    fanout: np.ndarray                  # non-zero synapses reached per presynaptic neuron, int64
    dense_macs: int                     # NeuroBench Dense of the weighted op, per sample and step
    csr_ptr: np.ndarray | None = None   # SPARSE_CONV: per kernel tap
    csr_post: np.ndarray | None = None  # SPARSE_CONV: position of each weight in its tap row
    conv: tuple | None = None           # CONV_FIELDS
    scale: float = 1.0                  # CONV: factor of a tiling pool in front of the convolution
    coords: np.ndarray | None = None    # CONV: per presynaptic neuron its input (c, y, x, first output
                                        # channel of its group), y = -1 outside a pooling grid


def _axis_taps(size: int, out: int, kernel: int, stride: int, pad: int) -> np.ndarray:
    """taps[i, d] is True where input position i meets kernel offset d at some valid output position."""
    i = np.arange(size)[:, None]
    d = np.arange(kernel)[None, :]
    o, rem = np.divmod(i + pad - d, stride)
    return (rem == 0) & (o >= 0) & (o < out)


def _conv_fanout(nnz: np.ndarray, conv: dict) -> np.ndarray:
    """Per convolution input neuron (C, H, W): sum over reachable kernel offsets of ``nnz[c, dy, dx]``."""
    ty = _axis_taps(conv["h"], conv["h_out"], conv["kh"], conv["sh"], conv["ph"]).astype(np.int64)
    tx = _axis_taps(conv["w"], conv["w_out"], conv["kw"], conv["sw"], conv["pw"]).astype(np.int64)
    return np.einsum("yd,xe,cde->cyx", ty, tx, nnz.astype(np.int64)).ravel()


def _conv_op(weight: np.ndarray, in_shape: tuple, out_shape: tuple, stride, padding, groups: int,
             pre_shape: tuple | None = None, pool=None) -> KernelOp:
    """A convolution of ``in_shape``; with ``pool``, its input is that tiling pool of ``pre_shape``."""
    c_out, c_in_g, kh, kw = weight.shape
    c_in, h, w = in_shape
    pre_shape = pre_shape or in_shape
    pool_h, pool_w = pool.kernel_size if pool else (1, 1)
    c_out_g = c_out // groups
    conv = dict(c_in=c_in, h=h, w=w, c_out=c_out, h_out=out_shape[1], w_out=out_shape[2], kh=kh, kw=kw,
                sh=stride[0], sw=stride[1], ph=padding[0], pw=padding[1], c_in_group=c_in_g,
                c_out_group=c_out_g)
    c, y, x = np.meshgrid(np.arange(c_in), np.arange(pre_shape[1]) // pool_h, np.arange(pre_shape[2]) // pool_w,
                          indexing="ij")
    y = np.where((y < h) & (x < w), y, -1)
    coords = np.stack([c, y, x, (c // c_in_g) * c_out_g], axis=-1).reshape(-1, 4).astype(np.int64)
    # wk[c, dy, kw - 1 - dx, o_local] = weight[group(c) * c_out_g + o_local, c - group(c) * c_in_g, dy, dx]:
    # flipped in x, so that with stride 1 the weights of consecutive output columns are contiguous.
    wk = weight.reshape(groups, c_out_g, c_in_g, kh, kw).transpose(0, 2, 3, 4, 1).reshape(c_in, kh, kw, c_out_g)
    fanout = _conv_fanout(np.count_nonzero(wk, axis=3), conv)
    dense = _conv_fanout(np.full((c_in, kh, kw), c_out_g), conv).sum()
    if pool:
        q = _pooled_index(pre_shape, pool)
        fanout = np.where(q >= 0, fanout[q], 0)
    flipped = np.ascontiguousarray(wk[:, :, ::-1], dtype=np.float32)
    par = tuple(conv[f] for f in CONV_FIELDS)
    scale = pool.scale if pool else 1.0
    if np.count_nonzero(weight) > SPARSE_CONV_DENSITY * weight.size:
        return KernelOp(CONV, flipped, fanout, int(dense), conv=par, scale=scale, coords=coords)
    tap, o = np.nonzero(flipped.reshape(c_in * kh * kw, c_out_g))
    ptr = np.zeros(c_in * kh * kw + 1, np.int64)
    np.cumsum(np.bincount(tap, minlength=c_in * kh * kw), out=ptr[1:])
    position = (tap % kw) * c_out_g + o
    return KernelOp(SPARSE_CONV, flipped.reshape(-1, c_out_g)[tap, o], fanout, int(dense), ptr, position,
                    conv=par, scale=scale, coords=coords)


def _csr_op(n_post: int, ptr: np.ndarray, post: np.ndarray, values: np.ndarray, dense_macs: int) -> KernelOp:
    rows = np.repeat(np.arange(len(ptr) - 1), np.diff(ptr))
    fanout = np.bincount(rows[values != 0], minlength=len(ptr) - 1).astype(np.int64)
    return KernelOp(CSR, values.astype(np.float32), fanout, dense_macs, ptr.astype(np.int64), post.astype(np.int64))


def _matrix_op(weight_t: np.ndarray) -> KernelOp:
    wt = np.ascontiguousarray(weight_t, dtype=np.float32)
    return KernelOp(DENSE, wt, np.count_nonzero(wt, axis=1).astype(np.int64), int(wt.size))


def _pooled_index(shape: tuple, pool) -> np.ndarray:
    """For a tiling pool: the pooled neuron each input neuron falls in, or -1 if no window covers it."""
    c, h, w = shape
    (kh, kw) = pool.kernel_size
    hp, wp = h // kh, w // kw
    y = np.arange(h)[:, None]
    x = np.arange(w)[None, :]
    inside = (y < hp * kh) & (x < wp * kw)
    q = np.where(inside, (y // kh) * wp + (x // kw), -1)
    return np.where(inside[None], np.arange(c)[:, None, None] * hp * wp + q[None], -1).ravel()


def compile_projection(proj, pre_shape: tuple, post_shape: tuple) -> KernelOp:
    """Fold one projection's chain of ops into a single kernel operation.

    Behind a max-pool gate the operation starts from the pooled neurons (C order), which the gate
    feeds (see ``gate_windows``).
    """
    if isinstance(proj.pool, MaxPool2d):
        return _compile_chain(None, proj.weighted, proj.pool.output_shape(pre_shape), post_shape)
    return _compile_chain(proj.pool, proj.weighted, pre_shape, post_shape)


def gate_windows(proj, pre_shape: tuple) -> np.ndarray | None:
    """For a max-pooled projection, the pooled neuron (window) of each presynaptic neuron in C order
    (-1 outside the pooling grid); None for any other projection."""
    return _pooled_index(pre_shape, proj.pool) if isinstance(proj.pool, MaxPool2d) else None


def _compile_chain(pool, weighted, pre_shape: tuple, post_shape: tuple) -> KernelOp:
    n_pre, n_post = int(np.prod(pre_shape)), int(np.prod(post_shape))
    if pool is None and weighted is None:
        ident = np.arange(n_pre + 1)
        return _csr_op(n_post, ident, np.arange(n_pre), np.ones(n_pre, np.float32), n_pre)
    if weighted is None:
        c = pre_shape[0]
        w = np.full((c, 1) + pool.kernel_size, pool.scale, dtype=np.float32)
        return _conv_op(w, pre_shape, post_shape, pool.stride, pool.padding, groups=c)
    if pool is None:
        if isinstance(weighted, Conv2d):
            return _conv_op(weighted.weight, pre_shape, post_shape, weighted.stride, weighted.padding, weighted.groups)
        if isinstance(weighted, Linear):
            return _matrix_op(weighted.weight.T)
        return _csr_op(n_post, weighted.pre_ptr, weighted.post, weighted.values, n_pre * n_post)
    pooled_shape = pool.output_shape(pre_shape)
    if isinstance(weighted, Conv2d):
        return _conv_op(weighted.weight, pooled_shape, post_shape, weighted.stride, weighted.padding, weighted.groups,
                        pre_shape=pre_shape, pool=pool)
    q = _pooled_index(pre_shape, pool)
    n_pooled = int(np.prod(pooled_shape))
    scale = np.float32(pool.scale)
    if isinstance(weighted, Linear):
        wt = np.vstack([weighted.weight.T, np.zeros((1, n_post), np.float32)])[q] * scale
        op = _matrix_op(wt)
        return KernelOp(DENSE, op.weights, op.fanout, n_pooled * n_post)
    ptr, take = _csr_rows(weighted.pre_ptr, q)
    return _csr_op(n_post, ptr, weighted.post[take], weighted.values[take] * scale, n_pooled * n_post)


def _csr_rows(ptr: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The CSR offsets of the rows ``rows`` of a CSR structure (-1: an empty row) and the entries they take."""
    lengths = np.where(rows >= 0, np.diff(ptr)[rows], 0)
    new_ptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    take = np.repeat(np.where(rows >= 0, ptr[rows], 0) - new_ptr[:-1], lengths) + np.arange(new_ptr[-1])
    return new_ptr, take.astype(np.int64)


@dataclass(frozen=True)
class Plan:
    """A network compiled to flat arrays, in run order. Built once, run many times."""

    names: tuple                 # population names in run order
    shapes: tuple
    start: np.ndarray            # [P+1] first neuron index of each population
    input_pop: int               # index of the input population, or -1
    output_pop: int
    reset_mode: np.ndarray       # [P] int64 index into RESETS
    has_refractory: np.ndarray   # [P] bool: some neuron has a refractory period
    has_inh: np.ndarray          # [P] bool: receives projections into its second synaptic current
    uniform: np.ndarray          # [P] bool: the population's neurons share every parameter but the bias
    neuron: np.ndarray           # [8, N] float32, NEURON_ROWS (alpha 0: no synaptic current)
    refractory: np.ndarray       # [N] int64
    projection_names: tuple
    proj_post: np.ndarray
    proj_kind: np.ndarray
    proj_delay: np.ndarray
    proj_inh: np.ndarray         # [Q] bool: delivers into the second synaptic current
    proj_woff: np.ndarray        # offset into the weights of its kind
    proj_fanoff: np.ndarray      # offset into fanout
    proj_dense_macs: np.ndarray
    out_ptr: np.ndarray          # outgoing projections of population p: out_proj[out_ptr[p]:out_ptr[p+1]]
    out_proj: np.ndarray
    dense_w: np.ndarray
    dense_codes: np.ndarray      # int8 codes of the DENSE projections stored coded (spiking.runtime.codes)
    code_scale: np.ndarray       # their column scales (dtype of the weights)
    proj_scale_off: np.ndarray   # [Q] offset of a coded projection's scales in code_scale (its proj_woff then
                                 # indexes dense_codes), -1: its rows are values in dense_w
    proj_exact: np.ndarray       # [Q] bool: coded, and every code times its scale is exact (no rounding)
    csr_ptr: np.ndarray
    csr_post: np.ndarray
    csr_val: np.ndarray
    conv_par: np.ndarray         # [Q, len(CONV_FIELDS)] int64
    conv_w: np.ndarray
    conv_scale: np.ndarray       # [Q] factor of a pool in front of a CONV op (dtype of the weights)
    fanout: np.ndarray
    conv_pre: np.ndarray         # [len(fanout), 4] int64: KernelOp.coords of CONV ops, aligned with fanout
    gate_off: np.ndarray         # [Q] offset of a max-pooled projection's presynaptic neurons in gate_window, or -1
    gate_window: np.ndarray      # pooled neuron (C order) of each gated presynaptic neuron (internal order), or -1
    gate_best_off: np.ndarray    # [Q] offset of its pooled neurons' running maxima in the gate state
    n_gate_best: int
    n_slots: int                 # ring-buffer depth: max delay + 1
    perm: tuple                  # per population: C-order index of each internal position
    fixed: bool = False          # integer arithmetic: int64 neuron (FIXED_ROWS), weights and conv_scale
    net: object = field(default=None, repr=False, compare=False)  # the Network it was compiled from

    @property
    def n_neurons(self) -> int:
        return int(self.start[-1])

    @property
    def layout(self) -> tuple:
        """``Network.layout`` of the network as compiled."""
        return tuple(zip(self.names, self.shapes)), self.projection_names


NEURON_ROWS = ("v_threshold", "beta", "v_leak", "alpha", "v_reset", "bias", "v_init", "alpha_inh")
FIXED_ROWS = {"v_threshold": 0, "decay_v": 1, "decay_u": 3, "v_reset": 4, "bias": 5, "v_init": 6}
"""Rows of ``Plan.neuron`` holding a FixedLIF's integers (beta's row holds decay_v, alpha's decay_u)."""
MAX_FIXED_VALUE = 2 ** 24
"""Bound on the magnitude of integer weights and input values: float32 stores them exactly."""


def _op_weights(op) -> np.ndarray | None:
    if isinstance(op, (Linear, Conv2d)):
        return op.weight
    return op.values if isinstance(op, Sparse) else None


def fixed_arithmetic(net: Network) -> bool:
    """Whether ``net`` runs in integer arithmetic: every neuron population is ``FixedLIF``.

    Such a network must have whole-number weights below ``MAX_FIXED_VALUE`` in magnitude, no
    AvgPool2d (its factor is not an integer: use SumPool2d and fold the factor into the weights)
    and no projection into a second synaptic current. A mix of FixedLIF and float neurons is an error.
    """
    fixed = {pop.name: isinstance(pop.neuron, FixedLIF) for pop in net.order if not pop.is_input}
    if not any(fixed.values()):
        return False
    if not all(fixed.values()):
        floats = [name for name, f in fixed.items() if not f]
        raise ValidationError(f"populations {floats} have float neurons but others are FixedLIF: a network runs "
                              "either in integers (all FixedLIF) or in float")
    for proj in net.projections.values():
        if proj.receptor != "exc":
            raise ValidationError(f"projection '{proj.name}': FixedLIF has one synaptic current; receptor "
                                  f"'{proj.receptor}' is not supported")
        if any(isinstance(op, AvgPool2d) for op in proj.ops):
            raise ValidationError(f"projection '{proj.name}': AvgPool2d scales by a fraction, which integer "
                                  "arithmetic cannot; use SumPool2d and fold the factor into the weights")
        w = _op_weights(proj.weighted)
        if w is not None and ((w != np.round(w)).any() or (np.abs(w) >= MAX_FIXED_VALUE).any()):
            raise ValidationError(f"projection '{proj.name}': FixedLIF networks need whole-number weights below "
                                  f"{MAX_FIXED_VALUE} in magnitude")
    return True


def check_fixed_stimulus(stim) -> None:
    """Input to an integer network must be whole numbers below ``MAX_FIXED_VALUE`` in magnitude."""
    if stim is not None and ((stim.value != np.round(stim.value)).any()
                             or (np.abs(stim.value) >= MAX_FIXED_VALUE).any()):
        raise ValidationError(f"a FixedLIF network takes whole-number input values below {MAX_FIXED_VALUE} in "
                              "magnitude; scale and round analog input first")


def compile_network(net: Network) -> Plan:
    """Validate ``net`` and lay it out as a :class:`Plan`."""
    net.validate()
    fixed = fixed_arithmetic(net)
    order = net.order
    names = tuple(p.name for p in order)
    sizes = [p.size for p in order]
    start = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    n = int(start[-1])
    neuron = np.zeros((len(NEURON_ROWS), n), np.int64 if fixed else np.float32)
    neuron[0] = np.iinfo(np.int64).max if fixed else np.inf
    refractory = np.zeros(n, np.int64)
    reset_mode = np.zeros(len(order), np.int64)
    for k, pop in enumerate(order):
        if pop.is_input:
            continue
        params = pop.neuron.params()
        sl = slice(start[k], start[k + 1])
        rows = FIXED_ROWS if fixed else {key: r for r, key in enumerate(NEURON_ROWS)}
        values = pop.neuron.integers() if fixed else params
        for key, r in rows.items():
            neuron[r, sl] = values[key].reshape(-1)
        refractory[sl] = params["refractory"].reshape(-1)
        reset_mode[k] = RESETS.index(pop.neuron.reset)

    shared = np.delete(neuron, [NEURON_ROWS.index(key) for key in ("bias", "v_init")], axis=0)
    projs = list(net.projections.values())
    ops = [compile_projection(p, net.populations[p.pre].shape, net.populations[p.post].shape) for p in projs]
    pre = np.array([names.index(p.pre) for p in projs], np.int64)
    post = np.array([names.index(p.post) for p in projs], np.int64)
    hwc = {int(post[q]) for q, op in enumerate(ops) if op.kind in (CONV, SPARSE_CONV)}
    perm = [_channel_last(order[k].shape) if k in hwc else np.arange(order[k].size) for k in range(len(order))]
    windows = [gate_windows(p, net.populations[p.pre].shape) for p in projs]
    ops = [_relayout(op, perm[pre[q]] if windows[q] is None else np.arange(len(op.fanout)), perm[post[q]])
           for q, op in enumerate(ops)]
    gate_off = np.full(len(projs), -1, np.int64)
    gate_best_off = np.zeros(len(projs), np.int64)
    gate_window, n_gated, n_best = [], 0, 0
    for q, w in enumerate(windows):
        if w is not None:
            gate_off[q], gate_best_off[q] = n_gated, n_best
            gate_window.append(w[perm[pre[q]]])
            n_gated += len(w)
            n_best += len(ops[q].fanout)
    for k in hwc:
        sl = slice(start[k], start[k + 1])
        neuron[:, sl] = neuron[:, sl][:, perm[k]]
        refractory[sl] = refractory[sl][perm[k]]
    order_out = np.argsort(pre, kind="stable")
    out_ptr = np.zeros(len(order) + 1, np.int64)
    np.cumsum(np.bincount(pre, minlength=len(order)), out=out_ptr[1:])

    woff, fanoff, dense_w, csr_ptr, csr_post, csr_val, conv_w, fanout, conv_pre = [], [], [], [], [], [], [], [], []
    dense_codes, code_scale = [], []
    conv_par = np.zeros((len(projs), len(CONV_FIELDS)), np.int64)
    scale_off = np.full(len(projs), -1, np.int64)
    exact = np.zeros(len(projs), bool)
    sizes_of = {DENSE: 0, CSR: 0, CONV: 0}
    n_codes = n_scales = 0
    n_fan = 0
    n_csr_syn = 0
    for q, op in enumerate(ops):
        fanoff.append(n_fan)
        fanout.append(op.fanout)
        conv_pre.append(op.coords if op.coords is not None else np.zeros((len(op.fanout), 4), np.int64))
        n_fan += len(op.fanout)
        coded = None
        if op.kind == DENSE:
            coded = int8_codes(op.weights.astype(np.int64 if fixed else np.float32, copy=False))
        if coded is not None:
            woff.append(n_codes)
            dense_codes.append(coded[0].ravel())
            code_scale.append(coded[1])
            scale_off[q], exact[q] = n_scales, coded[2]
            n_codes += coded[0].size
            n_scales += len(coded[1])
        elif op.kind == DENSE:
            woff.append(sizes_of[DENSE])
            dense_w.append(op.weights.ravel())
            sizes_of[DENSE] += op.weights.size
        elif op.kind in (CSR, SPARSE_CONV):
            woff.append(sizes_of[CSR])
            csr_ptr.append(op.csr_ptr + n_csr_syn)
            csr_post.append(op.csr_post)
            csr_val.append(op.weights)
            sizes_of[CSR] += len(op.csr_ptr)
            n_csr_syn += len(op.csr_post)
            if op.kind == SPARSE_CONV:
                conv_par[q] = op.conv
        else:
            woff.append(sizes_of[CONV])
            conv_w.append(op.weights.ravel())
            conv_par[q] = op.conv
            sizes_of[CONV] += op.weights.size

    weight_type = np.int64 if fixed else np.float32

    def cat(parts, dtype):
        return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype)

    return Plan(
        names=names, shapes=tuple(p.shape for p in order), start=start,
        input_pop=next((k for k, p in enumerate(order) if p.is_input), -1),
        output_pop=names.index(net.output_name), reset_mode=reset_mode,
        has_refractory=np.array([bool(refractory[start[k]:start[k + 1]].any()) for k in range(len(order))]),
        neuron=neuron, refractory=refractory,
        projection_names=tuple(p.name for p in projs), proj_post=post,
        proj_kind=np.array([op.kind for op in ops], np.int64),
        proj_delay=np.array([p.delay for p in projs], np.int64),
        proj_inh=np.array([p.receptor == "inh" for p in projs], dtype=bool),
        uniform=np.array([bool((shared[:, start[k]:start[k + 1]] == shared[:, start[k]:start[k] + 1]).all()
                               and (refractory[start[k]:start[k + 1]] == refractory[start[k]]).all())
                          for k in range(len(order))]),
        has_inh=np.array([any(p.receptor == "inh" and p.post == pop.name for p in projs) for pop in order], dtype=bool),
        proj_woff=np.array(woff, np.int64), proj_fanoff=np.array(fanoff, np.int64),
        proj_dense_macs=np.array([op.dense_macs for op in ops], np.int64),
        out_ptr=out_ptr, out_proj=order_out.astype(np.int64),
        dense_w=cat(dense_w, weight_type), dense_codes=cat(dense_codes, np.int8),
        code_scale=cat(code_scale, weight_type), proj_scale_off=scale_off, proj_exact=exact,
        csr_ptr=cat(csr_ptr, np.int64), csr_post=cat(csr_post, np.int64),
        csr_val=cat(csr_val, weight_type), conv_par=conv_par, conv_w=cat(conv_w, weight_type),
        conv_scale=np.array([op.scale for op in ops], weight_type),
        fanout=cat(fanout, np.int64), conv_pre=np.concatenate(conv_pre) if conv_pre else np.zeros((0, 4), np.int64),
        gate_off=gate_off, gate_window=cat(gate_window, np.int64),
        gate_best_off=gate_best_off, n_gate_best=n_best, n_slots=int(max([p.delay for p in projs], default=0)) + 1,
        perm=tuple(perm), fixed=fixed, net=net,
    )


def _channel_last(shape: tuple) -> np.ndarray:
    """For a (C, H, W) population: the C-order index at each channel-last position."""
    return np.arange(int(np.prod(shape))).reshape(shape).transpose(1, 2, 0).ravel()


def _relayout(op: KernelOp, pre_perm: np.ndarray, post_perm: np.ndarray) -> KernelOp:
    """Express a C-order kernel op in the internal layouts of its populations (a CONV target is channel-last)."""
    fanout = op.fanout[pre_perm]
    if op.kind in (CONV, SPARSE_CONV):
        return KernelOp(op.kind, op.weights, fanout, op.dense_macs, op.csr_ptr, op.csr_post, conv=op.conv,
                        scale=op.scale, coords=op.coords[pre_perm])
    if op.kind == DENSE:
        return KernelOp(DENSE, np.ascontiguousarray(op.weights[pre_perm][:, post_perm]), fanout, op.dense_macs)
    ptr, take = _csr_rows(op.csr_ptr, pre_perm)
    return KernelOp(CSR, op.weights[take], fanout, op.dense_macs, ptr, np.argsort(post_perm)[op.csr_post[take]])
