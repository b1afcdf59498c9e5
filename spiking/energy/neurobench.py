"""NeuroBench's workload counts of a run, for comparison with the runtime's own.

NeuroBench (``../shared/reference/energy-model.md`` section 6) sees only the weighted layers of the
snnTorch twin. It counts a layer call (one step, the whole batch) as Effective_ACs when every input
value is in {-1, 0, 1}, else as Effective_MACs, in both cases non-zero inputs times the non-zero
weights each feeds. Where a pool sits between a spiking population and the next weights, its inputs
are the pooled values (0.25, 0.5, ... for an average pool), so it counts MACs of pooled values
where the runtime counts synaptic events through the pool. Pool-only projections are invisible to it.
"""
from __future__ import annotations

import numpy as np

from ..errors import ValidationError
from ..network import Network
from ..network.graph import Projection
from ..runtime.compile import compile_projection


def _pooled(x: np.ndarray, pool) -> np.ndarray:
    """A tiling pool (stride == kernel, no padding) of ``x [T, B, C, H, W]``, as torch computes it per step."""
    (kh, kw) = pool.kernel_size
    t, b, c, h, w = x.shape
    hp, wp = h // kh, w // kw
    tiles = x[..., :hp * kh, :wp * kw].astype(np.float64).reshape(t, b, c, hp, kh, wp, kw)
    if type(pool).__name__ == "MaxPool2d":
        return tiles.max(axis=(4, 6))
    return tiles.sum(axis=(4, 6)) * pool.scale


def _fanout_after_pool(proj, pooled_shape: tuple, post_shape: tuple) -> np.ndarray:
    rest = tuple(op for op in proj.ops if op is not proj.pool)
    bare = Projection(proj.name, proj.pre, proj.post, rest, proj.delay, proj.receptor)
    return compile_projection(bare, pooled_shape, post_shape).fanout


def pooled_sources(net: Network) -> list[str]:
    """Populations whose spikes pass a pool before weights: record them for the pooled-MAC counts."""
    return list(dict.fromkeys(p.pre for p in net.projections.values()
                              if p.pool is not None and p.weighted is not None))


def needed_recordings(net: Network, result, stimulus=None) -> list[str]:
    """What the pooled-MAC counts still need: populations missing from ``result.recorded``."""
    missing = []
    for name in pooled_sources(net):
        if net.populations[name].is_input:
            if stimulus is None:
                missing.append(f"{name} (pass the stimulus)")
        elif name not in result.recorded:
            missing.append(name)
    return missing


def neurobench_counts(net: Network, result, stimulus=None) -> dict:
    """Per sample, summed over steps: ``{projection: {"effective_acs", "effective_macs", "dense"}}``
    plus ``"total"`` and ``"membrane_updates"``, as NeuroBench counts them on the snnTorch twin.

    Projections without a pool before their weights take the runtime's counts (synaptic events are
    Effective_ACs of binary spikes; analog input is Effective_MACs); pooled projections are counted
    from the recorded spikes of their presynaptic population.
    """
    missing = needed_recordings(net, result, stimulus)
    if missing:
        raise ValidationError(f"NeuroBench's pooled-MAC counts need the spikes of {', '.join(missing)}: "
                              "run with record=[...] naming them")
    c, b = result.counts, result.counts.batch
    tot = c.totals()
    out = {}
    for q, proj in net.projections.items():
        if proj.weighted is None:
            out[q] = dict(effective_acs=0, effective_macs=0, dense=0)
            continue
        row = dict(effective_acs=tot["synaptic_events"][q] / b, effective_macs=tot["effective_macs"][q] / b,
                   dense=tot["dense_macs"][q] / b)
        if proj.pool is not None:
            pre = net.populations[proj.pre]
            spikes = stimulus.frames if pre.is_input else result.recorded[proj.pre]
            x = _pooled(np.asarray(spikes).reshape(spikes.shape[:2] + pre.shape), proj.pool)
            fanout = _fanout_after_pool(proj, x.shape[2:], net.populations[proj.post].shape)
            per_step = ((x != 0).reshape(x.shape[0], x.shape[1], -1) * fanout).sum(axis=(1, 2))
            binary = np.isin(x, (-1.0, 0.0, 1.0)).reshape(x.shape[0], -1).all(axis=1)
            row["effective_acs"] = float(per_step[binary].sum()) / b
            row["effective_macs"] = float(per_step[~binary].sum()) / b
        out[q] = row
    out["total"] = {k: sum(r[k] for r in out.values()) for k in ("effective_acs", "effective_macs", "dense")}
    out["membrane_updates"] = float(c.membrane_updates.sum()) / b
    return out
