"""The fused event-driven run: every sample and every step of a compiled network in one call.

Work per step is one update per neuron plus one weight read per synapse a spike reaches; a
silent neuron costs nothing downstream. Arrays follow ``spiking.runtime.compile.Plan``. The same
code runs in float32 or, with int64 state, currents and weights (a network of FixedLIF neurons),
in integer arithmetic: numba compiles one version per dtype, and ``_update`` picks the neuron
update for it.
"""
import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.cpython.unsafe.numbers import trailing_zeros
from numba.extending import intrinsic, overload
from numba.np.arrayobj import populate_array

DENSE, CSR, CONV, SPARSE_CONV = 0, 1, 2, 3
SUBTRACT, HARD, NONE = 0, 1, 2


def _at(param, i):
    """``param[i]`` for a per-neuron array, ``param`` itself for a population-wide scalar."""


@overload(_at, inline="always")
def _at_overload(param, i):
    if isinstance(param, types.Array):
        return lambda param, i: param[i]
    return lambda param, i: param


@njit(inline="always")
def _membrane(v0, r, drive, mode, thr, beta, leak, v_reset):
    """The membrane after integrating ``drive``, with the reset of a spike at the previous step (``r``)."""
    base = v_reset if (mode == HARD and r) else v0
    v1 = leak + beta * (base - leak) + drive
    if mode == SUBTRACT:
        v1 = v1 - (thr if r else np.float32(0))
    return v1


@njit(inline="always")
def _refractory_loop(n, mode, v, syn, fired, left, refractory, thr, beta, leak, v_reset):
    """The update for populations with refractory periods: held neurons keep their reset value.

    Branch-free per neuron; ``mode`` is a literal at each call site so the reset is resolved at
    compile time. Parameters are arrays or population-wide scalars (see ``_at``).
    """
    changed = 0
    for i in range(n):
        v0 = v[i]
        r = fired[i] != 0
        held = left[i] > 0
        v_int = _membrane(v0, r, syn[i], mode, _at(thr, i), _at(beta, i), _at(leak, i), _at(v_reset, i))
        v_held = v0
        if mode == SUBTRACT:
            v_held = v0 - _at(thr, i) if r else v0
        elif mode == HARD:
            v_held = _at(v_reset, i) if r else v0
        v1 = v_held if held else v_int
        spike = (not held) and v1 > _at(thr, i)
        left[i] = _at(refractory, i) if spike else left[i] - held
        v[i] = v1
        fired[i] = spike
        changed += v1 != v0
    return changed


@njit(cache=True)
def _refractory_step(n, mode, v, syn, fired, left, refractory, thr, beta, leak, v_reset):
    """``_refractory_loop`` with the reset mode resolved at compile time."""
    if mode == SUBTRACT:
        return _refractory_loop(n, SUBTRACT, v, syn, fired, left, refractory, thr, beta, leak, v_reset)
    if mode == HARD:
        return _refractory_loop(n, HARD, v, syn, fired, left, refractory, thr, beta, leak, v_reset)
    return _refractory_loop(n, NONE, v, syn, fired, left, refractory, thr, beta, leak, v_reset)


@njit(inline="always")
def _shared_loop(n, mode, cur, bias, v, fired, thr, beta, leak, v_reset):
    """The update of a population without synaptic current or refractory period whose parameters
    other than the bias are scalars: one pass over current, bias, membrane and spike flags.
    ``mode`` is a literal at each call site, so the loop compiles branch-free."""
    changed = 0
    for i in range(n):
        drive = cur[i] + bias[i]
        cur[i] = 0
        v0 = v[i]
        v1 = _membrane(v0, fired[i] != 0, drive, mode, thr, beta, leak, v_reset)
        v[i] = v1
        fired[i] = v1 > thr
        changed += v1 != v0
    return changed


@njit(cache=True)
def _shared_step(n, mode, cur, bias, v, fired, thr, beta, leak, v_reset):
    """``_shared_loop`` with the reset mode resolved at compile time."""
    if mode == SUBTRACT:
        return _shared_loop(n, SUBTRACT, cur, bias, v, fired, thr, beta, leak, v_reset)
    if mode == HARD:
        return _shared_loop(n, HARD, cur, bias, v, fired, thr, beta, leak, v_reset)
    return _shared_loop(n, NONE, cur, bias, v, fired, thr, beta, leak, v_reset)


@njit(cache=True)
def update_population(lo, hi, mode, has_refractory, has_inh, uniform, cur, cur_inh, v, syn, syn_inh, drive, refr_left,
                      fired, neuron, refractory, act_idx, act_val, first_step):
    """Advance neurons ``lo..hi-1`` one step (the update in ``spiking.neurons``).

    Reads and clears ``cur`` (and ``cur_inh`` where ``has_inh``); the synaptic current ``syn`` holds
    the step's input where ``alpha`` is 0; with a second current the membrane is driven by
    ``syn + syn_inh``, written to ``drive``. ``uniform``: every parameter but the bias is the same
    for all the population's neurons; without synaptic current (``alpha`` 0) or refractory period
    such a population takes one pass (``_shared_step``). Writes spiking neuron indices into
    ``act_idx``. Returns (number of spikes, number of neurons whose membrane changed). The loops run
    over slices from index 0 so that the compiler can drop negative-index handling and vectorise them.
    """
    n = hi - lo
    if uniform and not has_refractory and not has_inh and neuron[3, lo] == 0:
        own = fired[lo:hi]
        changed = _shared_step(n, mode, cur[lo:hi], neuron[5, lo:hi], v[lo:hi], own, neuron[0, lo], neuron[1, lo],
                               neuron[2, lo], neuron[4, lo])
        return _collect(own, lo, act_idx, act_val), n if first_step else changed
    cur, v, syn, fired = cur[lo:hi], v[lo:hi], syn[lo:hi], fired[lo:hi]
    thr, beta, leak = neuron[0][lo:hi], neuron[1][lo:hi], neuron[2][lo:hi]
    alpha, v_reset, bias = neuron[3][lo:hi], neuron[4][lo:hi], neuron[5][lo:hi]
    if has_inh:
        cur_inh, syn_inh, alpha_inh, drive = cur_inh[lo:hi], syn_inh[lo:hi], neuron[7][lo:hi], drive[lo:hi]
        for i in range(n):
            syn[i] = alpha[i] * syn[i] + (cur[i] + bias[i])
            cur[i] = 0
            syn_inh[i] = alpha_inh[i] * syn_inh[i] + cur_inh[i]
            cur_inh[i] = 0
            drive[i] = syn[i] + syn_inh[i]
        syn = drive
    else:
        for i in range(n):
            syn[i] = alpha[i] * syn[i] + (cur[i] + bias[i])
            cur[i] = 0
    if has_refractory and uniform:
        # The branchy refractory loop runs measurably faster (CUBA: 0.086 -> 0.077 s) with the
        # parameters as scalars where the population shares them.
        changed = _refractory_step(n, mode, v, syn, fired, refr_left[lo:hi], refractory[lo], thr[0], beta[0], leak[0],
                                   v_reset[0])
    elif has_refractory:
        changed = _refractory_step(n, mode, v, syn, fired, refr_left[lo:hi], refractory[lo:hi], thr, beta, leak,
                                   v_reset)
    else:
        changed = 0
        for i in range(n):
            v0 = v[i]
            v1 = _membrane(v0, fired[i] != 0, syn[i], mode, thr[i], beta[i], leak[i], v_reset[i])
            v[i] = v1
            fired[i] = v1 > thr[i]
            changed += v1 != v0
    return _collect(fired, lo, act_idx, act_val), n if first_step else changed


@njit(inline="always")
def _decay(x, k):
    """``x (4096 - k) / 4096`` rounded toward zero, in integers (``spiking.neurons.FixedLIF``)."""
    p = x * (4096 - k)
    return p >> 12 if p >= 0 else -((-p) >> 12)


@njit(cache=True)
def update_fixed(lo, hi, mode, cur, v, syn, fired, neuron, act_idx, act_val, first_step):
    """``update_population`` for FixedLIF neurons: int64 state and parameters, the integer update of
    ``spiking.neurons.FixedLIF`` (rows of ``neuron``: threshold, decay_v, -, decay_u, v_reset, bias)."""
    n = hi - lo
    cur, v, syn, fired = cur[lo:hi], v[lo:hi], syn[lo:hi], fired[lo:hi]
    thr, decay_v, decay_u = neuron[0][lo:hi], neuron[1][lo:hi], neuron[3][lo:hi]
    v_reset, bias = neuron[4][lo:hi], neuron[5][lo:hi]
    changed = 0
    for i in range(n):
        u = _decay(syn[i], decay_u[i]) + cur[i] + bias[i]
        syn[i] = u
        cur[i] = 0
        v0 = v[i]
        r = fired[i] != 0
        base = v_reset[i] if (mode == HARD and r) else v0
        v1 = _decay(base, decay_v[i]) + u
        if mode == SUBTRACT and r:
            v1 = v1 - thr[i]
        v[i] = v1
        fired[i] = v1 > thr[i]
        changed += v1 != v0
    return _collect(fired, lo, act_idx, act_val), n if first_step else changed


def _update(lo, hi, mode, has_refractory, has_inh, uniform, cur, cur_inh, v, syn, syn_inh, drive, refr_left,
            fired, neuron, refractory, act_idx, act_val, first_step):
    """``update_population`` for float state, ``update_fixed`` for integer state (chosen at compile time)."""


@overload(_update)
def _update_overload(lo, hi, mode, has_refractory, has_inh, uniform, cur, cur_inh, v, syn, syn_inh, drive, refr_left,
                     fired, neuron, refractory, act_idx, act_val, first_step):
    if isinstance(v.dtype, types.Integer):
        return (lambda lo, hi, mode, has_refractory, has_inh, uniform, cur, cur_inh, v, syn, syn_inh, drive,
                refr_left, fired, neuron, refractory, act_idx, act_val, first_step:
                update_fixed(lo, hi, mode, cur, v, syn, fired, neuron, act_idx, act_val, first_step))
    return (lambda lo, hi, mode, has_refractory, has_inh, uniform, cur, cur_inh, v, syn, syn_inh, drive, refr_left,
            fired, neuron, refractory, act_idx, act_val, first_step:
            update_population(lo, hi, mode, has_refractory, has_inh, uniform, cur, cur_inh, v, syn, syn_inh, drive,
                              refr_left, fired, neuron, refractory, act_idx, act_val, first_step))


@intrinsic
def _flags8(typingctx, flags, i):
    """The eight uint8 flags ``flags[i:i + 8]`` as one little-endian uint64 (flag ``i + k`` in byte ``k``)."""
    if not (isinstance(flags, types.Array) and flags.dtype == types.uint8):
        return None

    def codegen(context, builder, signature, args):
        data = context.make_array(signature.args[0])(context, builder, args[0]).data
        word = builder.bitcast(builder.gep(data, [args[1]]), ir.IntType(64).as_pointer())
        return builder.load(word, align=1)
    return types.uint64(flags, i), codegen


@njit(inline="always")
def _collect(fired, lo, act_idx, act_val):
    """Write the indices of neurons with ``fired`` set into ``act_idx`` (from ``lo``); return their number.

    The 0/1 flags are read eight at a time as one word; each set byte of a word is found by its
    trailing zero bits and cleared, so a silent group of eight costs one test and a spike a few
    instructions.
    """
    n = len(fired)
    whole = n - n % 8
    n_act = 0
    for i in range(0, whole, 8):
        word = _flags8(fired, i)
        while word != 0:
            act_idx[n_act] = lo + i + (trailing_zeros(word) >> 3)
            act_val[n_act] = 1.0
            n_act += 1
            word &= word - np.uint64(1)
    for k in range(whole, n):
        if fired[k]:
            act_idx[n_act] = lo + k
            act_val[n_act] = 1.0
            n_act += 1
    return n_act


def _weight(row, k, scale):
    """``row[k]`` as a weight: the stored value, or for an int8 code (``spiking.runtime.codes``) the
    code times its column's ``scale[k]``, computed exactly as the coder checked it."""


@overload(_weight, inline="always")
def _weight_overload(row, k, scale):
    if row.dtype != types.int8:
        return lambda row, k, scale: row[k]
    if isinstance(scale.dtype, types.Float):
        return lambda row, k, scale: np.float32(row[k]) * scale[k]
    return lambda row, k, scale: np.int64(row[k]) * scale[k]


@njit(inline="always")
def _add_row(target, row, val, scale):
    """``target += val * row`` (``row`` read through ``_weight``); spikes (``val == 1``) skip the multiply
    so the loop is pure vector adds."""
    if val == 1.0:
        for k in range(len(row)):
            target[k] += _weight(row, k, scale)
    else:
        for k in range(len(row)):
            target[k] += val * _weight(row, k, scale)


@njit(cache=True, fastmath=False)
def add_row(target, row, val, scale):
    """``_add_row`` compiled on its own with ``fastmath`` off: numba compiles a callee with its caller's
    flags unless the callee sets them, and ``deliver_exact_rows`` must not pass its own on."""
    _add_row(target, row, val, scale)


@njit(inline="always")
def _rows(target, weights, scale, woff, act_idx, act_val, n_act, lo):
    """The body of ``deliver_rows``: spikes four rows per pass, other values one row at a time."""
    n = len(target)
    a = 0
    while a < n_act:
        if a + 4 <= n_act and act_val[a] == 1.0 and act_val[a + 1] == 1.0 and act_val[a + 2] == 1.0 \
                and act_val[a + 3] == 1.0:
            b0 = woff + (act_idx[a] - lo) * n
            b1 = woff + (act_idx[a + 1] - lo) * n
            b2 = woff + (act_idx[a + 2] - lo) * n
            b3 = woff + (act_idx[a + 3] - lo) * n
            r0, r1, r2, r3 = weights[b0:b0 + n], weights[b1:b1 + n], weights[b2:b2 + n], weights[b3:b3 + n]
            for k in range(n):
                target[k] = (target[k] + _weight(r0, k, scale) + _weight(r1, k, scale) + _weight(r2, k, scale)
                             + _weight(r3, k, scale))
            a += 4
        else:
            base = woff + (act_idx[a] - lo) * n
            add_row(target, weights[base:base + n], act_val[a], scale)
            a += 1


@njit(cache=True, fastmath=False)
def deliver_rows(target, weights, scale, woff, act_idx, act_val, n_act, lo):
    """Add the weight rows of the active neurons ``act_idx[:n_act]`` (indices from ``lo``) into ``target``.

    ``weights`` holds the rows as values, or as int8 codes with the column scales ``scale`` (else
    unread). Spikes go four rows per pass over ``target``: each element still receives its rows one
    after another in spike order, so the sums are bit-identical to one row at a time, with four
    streams of weights in flight.
    """
    _rows(target, weights, scale, woff, act_idx, act_val, n_act, lo)


@njit(cache=True, fastmath={"contract"})
def deliver_exact_rows(target, codes, scale, woff, act_idx, act_val, n_act, lo):
    """``deliver_rows`` for codes whose products with their scales are exact (``spiking.runtime.codes``):
    the compiler may fuse each product with its add, which then rounds exactly as the add alone."""
    _rows(target, codes, scale, woff, act_idx, act_val, n_act, lo)


@njit(cache=True)
def deliver_csr(target, csr_ptr, csr_post, csr_val, woff, act_idx, act_val, n_act, lo):
    """Add the CSR synapses of the active neurons ``act_idx[:n_act]`` (indices from ``lo``) into ``target``."""
    for a in range(n_act):
        j = woff + act_idx[a] - lo
        _scatter(target, 0, csr_post, csr_val, csr_ptr[j], csr_ptr[j + 1], act_val[a])


@njit(inline="always")
def _scatter(cur, base, position, values, lo, hi, val):
    """``cur[base + position[k]] += val * values[k]`` for ``k`` in ``lo..hi-1`` (no multiply for a spike)."""
    if val == 1:
        for k in range(lo, hi):
            cur[base + position[k]] += values[k]
    else:
        for k in range(lo, hi):
            cur[base + position[k]] += val * values[k]


@njit(inline="always")
def _reach(i, pad, k, stride, n_out):
    """The first and last output positions that input position ``i`` reaches along one axis."""
    if stride == 1:
        return max(0, i + pad - k + 1), min(n_out - 1, i + pad)
    return max(0, -((k - 1 - i - pad) // stride)), min(n_out - 1, (i + pad) // stride)


@njit(cache=True)
def deliver_conv(cur, kind, woff, par, scale, conv_w, csr_ptr, csr_post, csr_val, coords, fo, act_idx, act_val,
                 n_act, lo, post_lo):
    """Add the active neurons ``act_idx[:n_act]`` (indices from ``lo``) through a CONV or SPARSE_CONV
    projection into ``cur[post_lo:]``.

    A convolution reads the input coordinates of neuron ``j`` from ``coords[fo + j]`` (``Plan.conv_pre``).
    It may have a tiling pool in front: the spike enters its pooled pixel times ``scale`` (pixels
    outside the pooling grid reach nothing). The target population is stored channel-last,
    and the weights are flipped in x, so with stride 1 and one group the synapses of one output row
    are a single contiguous run of weights and of targets. SPARSE_CONV walks the same runs through
    the non-zero weights only (``spiking.runtime.compile``: per tap a pointer, per weight its position
    in the run of its tap row).
    """
    h_out, w_out, c_out, kh, kw = par[4], par[5], par[3], par[6], par[7]
    sh, sw, ph, pw, c_out_g = par[8], par[9], par[10], par[11], par[13]
    rows_contiguous = sw == 1 and c_out_g == c_out
    for a in range(n_act):
        row = fo + act_idx[a] - lo
        y = coords[row, 1]
        if y < 0:
            continue
        c, x, o_base = coords[row, 0], coords[row, 2], coords[row, 3]
        val = act_val[a]
        if scale != 1:
            val = val * scale
        oy_lo, oy_hi = _reach(y, ph, kh, sh, h_out)
        ox_lo, ox_hi = _reach(x, pw, kw, sw, w_out)
        if ox_hi < ox_lo:
            continue
        if kind == SPARSE_CONV:
            for oy in range(oy_lo, oy_hi + 1):
                tap = woff + (c * kh + y + ph - oy * sh) * kw
                if rows_contiguous:
                    d_lo = kw - 1 - (x + pw - ox_lo)
                    d_hi = kw - 1 - (x + pw - ox_hi)
                    base = post_lo + (oy * w_out + ox_lo) * c_out - d_lo * c_out
                    _scatter(cur, base, csr_post, csr_val, csr_ptr[tap + d_lo], csr_ptr[tap + d_hi + 1], val)
                else:
                    for ox in range(ox_lo, ox_hi + 1):
                        d = kw - 1 - (x + pw - ox * sw)
                        base = post_lo + (oy * w_out + ox) * c_out + o_base - d * c_out_g
                        _scatter(cur, base, csr_post, csr_val, csr_ptr[tap + d], csr_ptr[tap + d + 1], val)
        elif rows_contiguous:
            run = (ox_hi - ox_lo + 1) * c_out
            for oy in range(oy_lo, oy_hi + 1):
                dy = y + ph - oy * sh
                wb = woff + ((c * kh + dy) * kw + kw - 1 - (x + pw - ox_lo)) * c_out
                tgt = post_lo + (oy * w_out + ox_lo) * c_out
                _add_row(cur[tgt:tgt + run], conv_w[wb:wb + run], val, conv_w)
        else:
            for oy in range(oy_lo, oy_hi + 1):
                dy = y + ph - oy * sh
                for ox in range(ox_lo, ox_hi + 1):
                    wb = woff + ((c * kh + dy) * kw + kw - 1 - (x + pw - ox * sw)) * c_out_g
                    tgt = post_lo + (oy * w_out + ox) * c_out + o_base
                    _add_row(cur[tgt:tgt + c_out_g], conv_w[wb:wb + c_out_g], val, conv_w)


@njit(inline="always")
def _gather_input(in_ptr, in_idx, in_val, row, lo, act_idx, act_val):
    """The stimulus row ``row`` as active input neurons (indices from ``lo``) in ``act_idx``/``act_val``;
    returns their number and the sum of their values as whole spikes."""
    n_act = 0
    total = 0
    for k in range(in_ptr[row], in_ptr[row + 1]):
        act_idx[n_act] = lo + in_idx[k]
        act_val[n_act] = in_val[k]
        n_act += 1
        total += np.int64(in_val[k])
    return n_act, total


@njit(inline="always")
def _deliver(target, q, proj_kind, proj_woff, post_lo, n_post, dense_w, dense_codes, code_scale, proj_scale_off,
             proj_exact, csr_ptr, csr_post, csr_val, conv_par, conv_scale, conv_w, conv_pre, proj_fanoff, src_idx,
             src_val, src_n, src_lo):
    """Add the active neurons ``src_idx[:src_n]`` through projection ``q`` into ``target`` (indexed like ``cur``)."""
    if proj_kind[q] == DENSE:
        so = proj_scale_off[q]
        if so >= 0 and proj_exact[q]:
            deliver_exact_rows(target[post_lo:post_lo + n_post], dense_codes, code_scale[so:so + n_post],
                               proj_woff[q], src_idx, src_val, src_n, src_lo)
        elif so >= 0:
            deliver_rows(target[post_lo:post_lo + n_post], dense_codes, code_scale[so:so + n_post], proj_woff[q],
                         src_idx, src_val, src_n, src_lo)
        else:
            deliver_rows(target[post_lo:post_lo + n_post], dense_w, code_scale, proj_woff[q], src_idx, src_val, src_n,
                         src_lo)
    elif proj_kind[q] == CSR:
        deliver_csr(target[post_lo:post_lo + n_post], csr_ptr, csr_post, csr_val, proj_woff[q], src_idx, src_val,
                    src_n, src_lo)
    else:
        deliver_conv(target, proj_kind[q], proj_woff[q], conv_par[q], conv_scale[q], conv_w, csr_ptr, csr_post,
                     csr_val, conv_pre, proj_fanoff[q], src_idx, src_val, src_n, src_lo, post_lo)


@njit(inline="always")
def _max_gate(act_idx, act_val, n_act, lo, window, count, best, out_idx, out_val):
    """Count-gated max pooling: add each spike to its neuron's running count; where that count
    exceeds its window's running maximum, the window emits the difference. Returns the number of
    emitting windows written to ``out_idx``/``out_val``."""
    n_out = 0
    for a in range(n_act):
        j = act_idx[a] - lo
        w = window[j]
        if w < 0:
            continue
        c = count[j] + act_val[a]
        count[j] = c
        if c > best[w]:
            out_idx[n_out] = w
            out_val[n_out] = c - best[w]
            best[w] = c
            n_out += 1
    return n_out


@njit(cache=True)
def run_sample(b, steps, start, input_pop, output_pop, reset_mode, has_refractory, has_inh, uniform, neuron, refractory,
               proj_post, proj_kind, proj_delay, proj_inh, proj_woff, proj_fanoff, out_ptr, out_proj,
               dense_w, dense_codes, code_scale, proj_scale_off, proj_exact, csr_ptr, csr_post, csr_val, conv_par,
               conv_w, conv_scale, fanout, conv_pre,
               gate_off, gate_window, gate_best_off,
               in_ptr, in_idx, in_val, in_steps, in_analog, batch,
               cur, cur_inh, v, syn, syn_inh, drive, refr_left, fired, act_idx, act_val,
               gate_count, gate_best, gate_idx, gate_val, held,
               rec_off, rec, mem_trace, out_spikes, out_mem, events, macs, spikes, mem_updates):
    """Run every step of sample ``b`` from the initial state; ``cur`` [n_slots, N] and the state vectors
    are the buffers of the thread running it, reset here (``cur_inh``, ``syn_inh`` and ``drive`` are
    empty unless some population has a second current; ``gate_count`` and ``gate_best`` hold the
    running spike counts and window maxima of max pooling). For a constant stimulus, ``held`` has a row
    per projection out of the input (else none): the current each delivers, computed once per sample
    and added at every step; its MACs are still counted at every step.

    Outputs for the sample: rec [T, N_rec] (rec_off[p] < 0: not recorded), mem_trace [T or 0, n_out],
    out_spikes and out_mem [n_out], events and macs [T, Q], spikes and mem_updates [T, P].
    """
    n_pop = len(start) - 1
    n_slots = cur.shape[0]
    out_lo = start[output_pop]
    n_out = start[output_pop + 1] - out_lo
    v[:] = neuron[6]
    cur[:] = 0
    cur_inh[:] = 0
    syn[:] = 0
    syn_inh[:] = 0
    refr_left[:] = 0
    fired[:] = 0
    gate_count[:] = 0
    gate_best[:] = 0
    if held.shape[0] > 0:
        in_lo = start[input_pop]
        n_in, _ = _gather_input(in_ptr, in_idx, in_val, b, in_lo, act_idx, act_val)
        for e in range(out_ptr[input_pop], out_ptr[input_pop + 1]):
            q = out_proj[e]
            post_lo = start[proj_post[q]]
            region = held[e - out_ptr[input_pop]]
            region[:] = 0
            _deliver(region, q, proj_kind, proj_woff, post_lo, start[proj_post[q] + 1] - post_lo, dense_w,
                     dense_codes, code_scale, proj_scale_off, proj_exact, csr_ptr, csr_post, csr_val, conv_par,
                     conv_scale, conv_w, conv_pre, proj_fanoff, act_idx, act_val, n_in, in_lo)
    for t in range(steps):
        slot = t % n_slots
        for p in range(n_pop):
            lo = start[p]
            hi = start[p + 1]
            analog = p == input_pop and in_analog
            if p == input_pop:
                n_act, total = _gather_input(in_ptr, in_idx, in_val, (t if in_steps > 0 else 0) * batch + b, lo,
                                             act_idx, act_val)
                spikes[t, p] = 0 if analog else total
            else:
                n_act, changed = _update(
                    lo, hi, reset_mode[p], has_refractory[p], has_inh[p], uniform[p], cur[slot], cur_inh[slot], v, syn,
                    syn_inh,
                    drive, refr_left, fired, neuron, refractory, act_idx, act_val, t == 0)
                spikes[t, p] = n_act
                mem_updates[t, p] = changed
                if p == output_pop:
                    for a in range(n_act):
                        out_spikes[act_idx[a] - out_lo] += 1
            if rec_off[p] >= 0:
                for a in range(n_act):
                    rec[t, rec_off[p] + act_idx[a] - lo] = np.uint8(act_val[a])
            for e in range(out_ptr[p], out_ptr[p + 1]):
                q = out_proj[e]
                arrive = t + proj_delay[q]
                if arrive >= steps:
                    continue
                post = proj_post[q]
                post_lo = start[post]
                n_post = start[post + 1] - post_lo
                target = cur_inh[arrive % n_slots] if proj_inh[q] else cur[arrive % n_slots]
                src_idx, src_val, src_n, src_lo = act_idx, act_val, n_act, lo
                if gate_off[q] >= 0:
                    src_idx, src_val, src_lo = gate_idx, gate_val, 0
                    src_n = _max_gate(act_idx, act_val, n_act, lo, gate_window[gate_off[q]:],
                                      gate_count[gate_off[q]:], gate_best[gate_best_off[q]:], gate_idx, gate_val)
                fo = proj_fanoff[q] - src_lo
                count = 0
                for a in range(src_n):
                    j = src_idx[a]
                    count += fanout[fo + j] if analog else np.int64(src_val[a]) * fanout[fo + j]
                if held.shape[0] > 0 and p == input_pop:
                    region = held[e - out_ptr[p]]
                    _add_row(target[post_lo:post_lo + n_post], region[post_lo:post_lo + n_post], 1, region)
                else:
                    _deliver(target, q, proj_kind, proj_woff, post_lo, n_post, dense_w, dense_codes, code_scale,
                             proj_scale_off, proj_exact, csr_ptr, csr_post, csr_val,
                             conv_par, conv_scale, conv_w, conv_pre, proj_fanoff, src_idx, src_val, src_n, src_lo)
                if analog:
                    macs[arrive, q] += count
                else:
                    events[arrive, q] += count
        if mem_trace.shape[0] > 0:
            mem_trace[t] = v[out_lo:out_lo + n_out]
    out_mem[:] = v[out_lo:out_lo + n_out]


@intrinsic
def _borrowed(typingctx, values):
    """The tuple ``values`` with each array replaced by a view that holds no reference (a null meminfo).

    Numba counts references to an array atomically whenever a view of it is made or passed, which
    in the step loop cost more than the neuron updates of small populations. The caller keeps the
    arrays alive for the whole run, so the kernel can work on borrowed views.
    """
    def codegen(context, builder, signature, args):
        items = []
        for k, ty in enumerate(values.types):
            item = builder.extract_value(args[0], k)
            if isinstance(ty, types.Array):
                source = context.make_array(ty)(context, builder, value=item)
                view = context.make_array(ty)(context, builder)
                populate_array(view, data=source.data, shape=source.shape, strides=source.strides,
                               itemsize=source.itemsize, meminfo=None)
                item = view._getvalue()
            items.append(item)
        return context.make_tuple(builder, values, items)
    return values(values), codegen


@njit(cache=True, nogil=True)
def run_samples(lo, hi, args, buffers, outputs):
    """``run_sample`` for samples ``lo..hi-1`` on one set of state ``buffers``, without the GIL so that
    threads can share a batch."""
    args, buffers, outputs = _borrowed(args), _borrowed(buffers), _borrowed(outputs)
    for b in range(lo, hi):
        _one(b, args, buffers, outputs)


@njit(cache=True)
def _one(b, args, buffers, outputs):
    (steps, start, input_pop, output_pop, reset_mode, has_refractory, has_inh, uniform, neuron, refractory, proj_post,
     proj_kind, proj_delay, proj_inh, proj_woff, proj_fanoff, out_ptr, out_proj, dense_w, dense_codes, code_scale,
     proj_scale_off, proj_exact, csr_ptr, csr_post, csr_val, conv_par, conv_w, conv_scale, fanout, conv_pre, gate_off,
     gate_window, gate_best_off, in_ptr, in_idx, in_val, in_steps, in_analog, rec_off) = args
    (cur, cur_inh, v, syn, syn_inh, drive, refr_left, fired, act_idx, act_val, gate_count, gate_best, gate_idx,
     gate_val, held) = buffers
    out_spikes, out_mem, rec, mem_trace, events, macs, spikes, mem_updates = outputs
    run_sample(b, steps, start, input_pop, output_pop, reset_mode, has_refractory, has_inh, uniform, neuron, refractory,
               proj_post, proj_kind, proj_delay, proj_inh, proj_woff, proj_fanoff, out_ptr, out_proj,
               dense_w, dense_codes, code_scale, proj_scale_off, proj_exact, csr_ptr, csr_post, csr_val, conv_par,
               conv_w, conv_scale, fanout, conv_pre,
               gate_off, gate_window, gate_best_off,
               in_ptr, in_idx, in_val, in_steps, in_analog, out_spikes.shape[0],
               cur, cur_inh, v, syn, syn_inh, drive, refr_left, fired, act_idx, act_val,
               gate_count, gate_best, gate_idx, gate_val, held,
               rec_off, rec[b], mem_trace[b], out_spikes[b], out_mem[b], events[b], macs[b], spikes[b],
               mem_updates[b])
