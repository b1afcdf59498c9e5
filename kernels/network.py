"""The fused event-driven run: every sample and every step of a compiled network in one call.

Work per step is one update per neuron plus one weight read per synapse a spike reaches; a
silent neuron costs nothing downstream. Arrays follow ``spiking.runtime.compile.Plan``.
"""
import numpy as np
from numba import njit

DENSE, CSR, CONV = 0, 1, 2
SUBTRACT, HARD, NONE = 0, 1, 2


@njit(inline="always")
def _drive(i, cur, syn, alpha, bias):
    """Input current plus bias, through the synaptic current (``alpha`` is 0 without one); clears ``cur``."""
    d = alpha[i] * syn[i] + (cur[i] + bias[i])
    syn[i] = d
    cur[i] = 0
    return d


@njit(inline="always")
def _membrane(v0, r, drive, mode, thr, beta, leak, v_reset):
    """The membrane after integrating ``drive``, with the reset of a spike at the previous step (``r``)."""
    base = v_reset if (mode == HARD and r) else v0
    v1 = leak + beta * (base - leak) + drive
    if mode == SUBTRACT and r:
        v1 = v1 - thr
    return v1


@njit(cache=True)
def update_population(lo, hi, mode, has_refractory, cur, v, syn, refr_left, fired, neuron, refractory,
                      act_idx, act_val, first_step):
    """Advance neurons ``lo..hi-1`` one step (the update in ``spiking.neurons``).

    Reads and clears ``cur``; writes spiking neuron indices into ``act_idx``. Returns
    (number of spikes, number of neurons whose membrane changed). The loops run over slices from
    index 0 so that the compiler can drop negative-index handling and vectorise the update.
    """
    n = hi - lo
    cur, v, syn, fired = cur[lo:hi], v[lo:hi], syn[lo:hi], fired[lo:hi]
    thr, beta, leak = neuron[0][lo:hi], neuron[1][lo:hi], neuron[2][lo:hi]
    alpha, v_reset, bias = neuron[3][lo:hi], neuron[4][lo:hi], neuron[5][lo:hi]
    changed = 0
    if has_refractory:
        left, refractory = refr_left[lo:hi], refractory[lo:hi]
        for i in range(n):
            drive = _drive(i, cur, syn, alpha, bias)
            v0 = v[i]
            r = fired[i] != 0
            if left[i] > 0:
                left[i] -= 1
                v1 = v0
                if r and mode == SUBTRACT:
                    v1 = v0 - thr[i]
                elif r and mode == HARD:
                    v1 = v_reset[i]
                spike = False
            else:
                v1 = _membrane(v0, r, drive, mode, thr[i], beta[i], leak[i], v_reset[i])
                spike = v1 > thr[i]
                if spike:
                    left[i] = refractory[i]
            v[i] = v1
            fired[i] = spike
            changed += v1 != v0
    else:
        for i in range(n):
            drive = _drive(i, cur, syn, alpha, bias)
            v0 = v[i]
            v1 = _membrane(v0, fired[i] != 0, drive, mode, thr[i], beta[i], leak[i], v_reset[i])
            v[i] = v1
            fired[i] = v1 > thr[i]
            changed += v1 != v0
    n_act = 0
    for i in range(n):
        if fired[i]:
            act_idx[n_act] = lo + i
            act_val[n_act] = 1.0
            n_act += 1
    return n_act, n if first_step else changed


@njit(inline="always")
def _add_row(target, row, val):
    """``target += val * row``; spikes (``val == 1``) skip the multiply so the loop is pure vector adds."""
    if val == 1.0:
        for k in range(len(row)):
            target[k] += row[k]
    else:
        for k in range(len(row)):
            target[k] += val * row[k]


@njit(cache=True)
def deliver(kind, j, val, post_lo, n_post, woff, cur, dense_w, csr_ptr, csr_post, csr_val, par, conv_w):
    """Add presynaptic neuron ``j``'s activity ``val`` through its synapses into ``cur[post_lo:]``."""
    if kind == DENSE:
        _add_row(cur[post_lo:post_lo + n_post], dense_w[woff + j * n_post:woff + (j + 1) * n_post], val)
    elif kind == CSR:
        for k in range(csr_ptr[woff + j], csr_ptr[woff + j + 1]):
            cur[post_lo + csr_post[k]] += val * csr_val[k]
    else:
        c_in, h, w, c_out, h_out, w_out = par[0], par[1], par[2], par[3], par[4], par[5]
        kh, kw, sh, sw, ph, pw = par[6], par[7], par[8], par[9], par[10], par[11]
        c_in_g, c_out_g, pre_hwc, post_hwc = par[12], par[13], par[16], par[17]
        if pre_hwc:
            c = j % c_in
            y = (j // c_in) // w
            x = (j // c_in) % w
        else:
            c = j // (h * w)
            y = (j // w) % h
            x = j % w
        if y >= par[14] or x >= par[15]:
            return
        o_base = (c // c_in_g) * c_out_g
        plane = h_out * w_out
        oy_lo = max(0, -((kh - 1 - y - ph) // sh))
        oy_hi = min(h_out - 1, (y + ph) // sh)
        ox_lo = max(0, -((kw - 1 - x - pw) // sw))
        ox_hi = min(w_out - 1, (x + pw) // sw)
        for oy in range(oy_lo, oy_hi + 1):
            dy = y + ph - oy * sh
            for ox in range(ox_lo, ox_hi + 1):
                dx = x + pw - ox * sw
                wb = woff + ((c * kh + dy) * kw + dx) * c_out_g
                if post_hwc:
                    tgt = post_lo + (oy * w_out + ox) * c_out + o_base
                    _add_row(cur[tgt:tgt + c_out_g], conv_w[wb:wb + c_out_g], val)
                else:
                    tgt = post_lo + o_base * plane + oy * w_out + ox
                    for o in range(c_out_g):
                        cur[tgt + o * plane] += val * conv_w[wb + o]


@njit(cache=True)
def run_sample(b, steps, start, input_pop, output_pop, reset_mode, has_refractory, neuron, refractory,
               proj_post, proj_kind, proj_delay, proj_woff, proj_fanoff, out_ptr, out_proj,
               dense_w, csr_ptr, csr_post, csr_val, conv_par, conv_w, fanout,
               in_ptr, in_idx, in_val, in_steps, in_analog, batch,
               cur, v, syn, refr_left, fired, act_idx, act_val,
               rec_off, rec, mem_trace, out_spikes, out_mem, events, macs, spikes, mem_updates):
    """Run every step of sample ``b``; ``cur`` [n_slots, N] and the state vectors are its own buffers.

    Outputs for the sample: rec [T, N_rec] (rec_off[p] < 0: not recorded), mem_trace [T or 0, n_out],
    out_spikes and out_mem [n_out], events and macs [T, Q], spikes and mem_updates [T, P].
    """
    n_pop = len(start) - 1
    n_slots = cur.shape[0]
    out_lo = start[output_pop]
    n_out = start[output_pop + 1] - out_lo
    v[:] = neuron[6]
    for t in range(steps):
        slot = t % n_slots
        for p in range(n_pop):
            lo = start[p]
            hi = start[p + 1]
            analog = p == input_pop and in_analog
            if p == input_pop:
                row = (t if in_steps > 0 else 0) * batch + b
                n_act = 0
                total = 0
                for k in range(in_ptr[row], in_ptr[row + 1]):
                    act_idx[n_act] = lo + in_idx[k]
                    act_val[n_act] = in_val[k]
                    n_act += 1
                    total += np.int64(in_val[k])
                spikes[t, p] = 0 if analog else total
            else:
                n_act, changed = update_population(
                    lo, hi, reset_mode[p], has_refractory[p], cur[slot], v, syn, refr_left,
                    fired, neuron, refractory, act_idx, act_val, t == 0)
                spikes[t, p] = n_act
                mem_updates[t, p] = changed
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
                target = cur[arrive % n_slots]
                fo = proj_fanoff[q] - lo
                count = 0
                for a in range(n_act):
                    j = act_idx[a]
                    val = act_val[a]
                    count += fanout[fo + j] if analog else np.int64(val) * fanout[fo + j]
                    deliver(proj_kind[q], j - lo, val, post_lo, n_post, proj_woff[q], target,
                            dense_w, csr_ptr, csr_post, csr_val, conv_par[q], conv_w)
                if analog:
                    macs[arrive, q] += count
                else:
                    events[arrive, q] += count
        out_fired = fired[out_lo:out_lo + n_out]
        for k in range(n_out):
            out_spikes[k] += out_fired[k]
        if mem_trace.shape[0] > 0:
            mem_trace[t] = v[out_lo:out_lo + n_out]
    out_mem[:] = v[out_lo:out_lo + n_out]


@njit(cache=True, nogil=True)
def run_samples(lo, hi, args, buffers, outputs):
    """``run_sample`` for samples ``lo..hi-1``, without the GIL so that threads can share a batch."""
    for b in range(lo, hi):
        _one(b, args, buffers, outputs)


@njit(cache=True)
def _one(b, args, buffers, outputs):
    (steps, start, input_pop, output_pop, reset_mode, has_refractory, neuron, refractory, proj_post, proj_kind,
     proj_delay, proj_woff, proj_fanoff, out_ptr, out_proj, dense_w, csr_ptr, csr_post, csr_val, conv_par,
     conv_w, fanout, in_ptr, in_idx, in_val, in_steps, in_analog, rec_off) = args
    cur, v, syn, refr_left, fired, act_idx, act_val = buffers
    out_spikes, out_mem, rec, mem_trace, events, macs, spikes, mem_updates = outputs
    run_sample(b, steps, start, input_pop, output_pop, reset_mode, has_refractory, neuron, refractory,
               proj_post, proj_kind, proj_delay, proj_woff, proj_fanoff, out_ptr, out_proj,
               dense_w, csr_ptr, csr_post, csr_val, conv_par, conv_w, fanout,
               in_ptr, in_idx, in_val, in_steps, in_analog, out_spikes.shape[0],
               cur[b], v[b], syn[b], refr_left[b], fired[b], act_idx[b], act_val[b],
               rec_off, rec[b], mem_trace[b], out_spikes[b], out_mem[b], events[b], macs[b], spikes[b],
               mem_updates[b])
