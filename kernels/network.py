"""The fused event-driven run: every sample and every step of a compiled network in one call.

Work per step is one update per neuron plus one weight read per synapse a spike reaches; a
silent neuron costs nothing downstream. Arrays follow ``spiking.runtime.compile.Plan``.
"""
import numpy as np
from numba import njit, prange

DENSE, CSR, CONV = 0, 1, 2
SUBTRACT, HARD, NONE = 0, 1, 2


@njit(cache=True)
def update_population(lo, hi, mode, has_syn, cur, v, syn, refr_left, fired, neuron, refractory,
                      act_idx, act_val, first_step):
    """Advance neurons ``lo..hi-1`` one step (the update in ``spiking.neurons``).

    Reads and clears ``cur``; writes spiking neuron indices into ``act_idx``. Returns
    (number of spikes, number of neurons whose membrane changed).
    """
    n_act = 0
    changed = 0
    for i in range(lo, hi):
        drive = cur[i] + neuron[5, i]
        cur[i] = 0.0
        if has_syn:
            syn[i] = neuron[3, i] * syn[i] + drive
            drive = syn[i]
        v0 = v[i]
        r = fired[i]
        if refr_left[i] > 0:
            refr_left[i] -= 1
            if r:
                if mode == SUBTRACT:
                    v[i] = v0 - neuron[0, i]
                elif mode == HARD:
                    v[i] = neuron[4, i]
            fired[i] = 0
        else:
            leak = neuron[2, i]
            if mode == HARD and r:
                v1 = leak + neuron[1, i] * (neuron[4, i] - leak) + drive
            else:
                v1 = leak + neuron[1, i] * (v0 - leak) + drive
                if mode == SUBTRACT and r:
                    v1 = v1 - neuron[0, i]
            v[i] = v1
            if v1 > neuron[0, i]:
                fired[i] = 1
                refr_left[i] = refractory[i]
                act_idx[n_act] = i
                act_val[n_act] = 1.0
                n_act += 1
            else:
                fired[i] = 0
        if first_step or v[i] != v0:
            changed += 1
    return n_act, changed


@njit(cache=True)
def deliver(kind, j, val, post_lo, n_post, woff, cur, dense_w, csr_ptr, csr_post, csr_val, par, conv_w):
    """Add presynaptic neuron ``j``'s activity ``val`` through its synapses into ``cur[post_lo:]``."""
    if kind == DENSE:
        base = woff + j * n_post
        for k in range(n_post):
            cur[post_lo + k] += val * dense_w[base + k]
    elif kind == CSR:
        for k in range(csr_ptr[woff + j], csr_ptr[woff + j + 1]):
            cur[post_lo + csr_post[k]] += val * csr_val[k]
    else:
        h, w, h_out, w_out = par[1], par[2], par[4], par[5]
        kh, kw, sh, sw, ph, pw = par[6], par[7], par[8], par[9], par[10], par[11]
        c_in_g, c_out_g = par[12], par[13]
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
                tgt = post_lo + o_base * plane + oy * w_out + ox
                for o in range(c_out_g):
                    cur[tgt + o * plane] += val * conv_w[wb + o]


@njit(cache=True, parallel=True)
def run_network(steps, start, input_pop, output_pop, reset_mode, has_synapse, neuron, refractory,
                proj_post, proj_kind, proj_delay, proj_woff, proj_fanoff, out_ptr, out_proj,
                dense_w, csr_ptr, csr_post, csr_val, conv_par, conv_w, fanout, n_slots,
                in_ptr, in_idx, in_val, in_steps, in_analog,
                rec_off, rec, mem_trace,
                out_spikes, out_mem, events, macs, spikes, mem_updates):
    """Run ``steps`` steps for every sample; results and counts go into the arrays passed last.

    Shapes: cur ring buffer [B, n_slots, N]; rec [B, T, N_rec] (rec_off[p] < 0: not recorded);
    mem_trace [B, T or 0, n_out]; events, macs [B, T, Q]; spikes, mem_updates [B, T, P].
    """
    n_pop = len(start) - 1
    n = start[-1]
    batch = out_spikes.shape[0]
    cur = np.zeros((batch, n_slots, n), np.float32)
    v = np.empty((batch, n), np.float32)
    syn = np.zeros((batch, n), np.float32)
    refr_left = np.zeros((batch, n), np.int64)
    fired = np.zeros((batch, n), np.uint8)
    act_idx = np.empty((batch, n), np.int64)
    act_val = np.empty((batch, n), np.float32)
    out_lo = start[output_pop]
    n_out = start[output_pop + 1] - out_lo
    for b in prange(batch):
        v[b] = neuron[6]
        for t in range(steps):
            slot = t % n_slots
            for p in range(n_pop):
                lo = start[p]
                hi = start[p + 1]
                if p == input_pop:
                    row = (t if in_steps > 1 else 0) * batch + b
                    n_act = 0
                    total = 0
                    for k in range(in_ptr[row], in_ptr[row + 1]):
                        act_idx[b, n_act] = lo + in_idx[k]
                        act_val[b, n_act] = in_val[k]
                        n_act += 1
                        if not in_analog:
                            total += np.int64(in_val[k])
                    spikes[b, t, p] = total
                else:
                    n_act, changed = update_population(
                        lo, hi, reset_mode[p], has_synapse[p], cur[b, slot], v[b], syn[b], refr_left[b],
                        fired[b], neuron, refractory, act_idx[b], act_val[b], t == 0)
                    spikes[b, t, p] = n_act
                    mem_updates[b, t, p] = changed
                if rec_off[p] >= 0:
                    for a in range(n_act):
                        rec[b, t, rec_off[p] + act_idx[b, a] - lo] = np.uint8(act_val[b, a])
                for e in range(out_ptr[p], out_ptr[p + 1]):
                    q = out_proj[e]
                    arrive = t + proj_delay[q]
                    if arrive >= steps:
                        continue
                    tslot = arrive % n_slots
                    post = proj_post[q]
                    post_lo = start[post]
                    n_post = start[post + 1] - post_lo
                    count = 0
                    fo = proj_fanoff[q]
                    for a in range(n_act):
                        j = act_idx[b, a] - lo
                        val = act_val[b, a]
                        if p == input_pop and in_analog:
                            count += fanout[fo + j]
                        else:
                            count += np.int64(val) * fanout[fo + j]
                        deliver(proj_kind[q], j, val, post_lo, n_post, proj_woff[q], cur[b, tslot],
                                dense_w, csr_ptr, csr_post, csr_val, conv_par[q], conv_w)
                    if p == input_pop and in_analog:
                        macs[b, arrive, q] += count
                    else:
                        events[b, arrive, q] += count
            for k in range(n_out):
                if fired[b, out_lo + k]:
                    out_spikes[b, k] += 1
                if mem_trace.shape[1] > 0:
                    mem_trace[b, t, k] = v[b, out_lo + k]
        for k in range(n_out):
            out_mem[b, k] = v[b, out_lo + k]
