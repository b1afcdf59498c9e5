"""The runtime demo: the LeNet-like network on Poisson input at three activity levels.

It runs each input event-driven and with the dense torch reference, checks that both give the same
spikes and counts, and prints synaptic events against dense MACs and the time each backend took.
(The conversion demo on real MNIST replaces this once ANN-to-SNN conversion lands.)
"""
from __future__ import annotations

import json

import numpy as np
from tqdm import tqdm

from .bench.models import INPUT_SHAPES, lenet
from .bench.timing import best_times
from .runtime import compile_network, poisson, run
from .runtime.dense import DenseReference

DENSITIES = (0.02, 0.05, 0.2)


def demo(batch: int = 16, steps: int = 32, seed: int = 0) -> list[dict]:
    net = lenet(seed)
    plan = compile_network(net)
    reference = DenseReference(net)
    rng = np.random.default_rng(seed)
    rows = []
    for density in tqdm(DENSITIES, desc="demo", unit="input"):
        stim = poisson(np.full((batch,) + INPUT_SHAPES["lenet"], density) * rng.random((batch, 1, 1, 1)) * 2,
                       steps, seed=seed)
        event = run(net, stim, plan=plan)
        dense = run(net, stim, backend="dense", plan=reference)
        event_s, dense_s = best_times([lambda: run(net, stim, plan=plan),
                                       lambda: run(net, stim, backend="dense", plan=reference)])
        c = event.counts
        rows.append(dict(
            input_density=density, activity=c.activity, identical=bool(
                event.counts == dense.counts and np.array_equal(event.output_spikes, dense.output_spikes)
                and np.array_equal(event.membrane, dense.membrane)),
            synaptic_events_per_image=int(c.synaptic_events.sum()) / batch,
            dense_macs_per_image=int(c.dense_macs.sum()) / batch,
            spikes_per_image=int(c.spikes.sum()) / batch,
            event_s_per_image=event_s / batch, dense_s_per_image=dense_s / batch,
        ))
    return rows


def main(args) -> None:
    rows = demo()
    print("LeNet-like CNN, IF neurons, 32 steps, Poisson input, 16 images per activity level")
    print(f"{'input':>6}{'activity':>10}{'syn. events':>13}{'dense MACs':>12}{'event ms':>10}{'dense ms':>10}"
          f"{'speed-up':>9}  identical")
    for r in rows:
        print(f"{r['input_density']:>6.2f}{r['activity']:>10.3f}{r['synaptic_events_per_image']:>13.3g}"
              f"{r['dense_macs_per_image']:>12.3g}{r['event_s_per_image'] * 1e3:>10.3f}"
              f"{r['dense_s_per_image'] * 1e3:>10.3f}{r['dense_s_per_image'] / r['event_s_per_image']:>9.1f}"
              f"  {r['identical']}")
    print("per image; activity = synaptic events / dense MACs; times: best of repeats on this machine")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
