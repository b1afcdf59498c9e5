"""The main demo: train a LeNet-like CNN on real MNIST, convert it, and run it event-driven.

On the embedded MNIST subset (4,000 training and 1,000 test images, ``spiking.datasets``), it trains
the ANN, converts it with data-based normalization, runs the 1,000 test images once for 64 steps on
the event-driven backend and once on the dense torch reference, and reports accuracy at 8, 16, 32
and 64 steps, synaptic events against dense MACs, and the time per image of each.
"""
from __future__ import annotations

import time

import numpy as np
import torch

from .bench.train import accuracy, images_to_tensor, lenet_ann, seconds_per_image, train_classifier
from .convert import convert, evaluate
from .datasets import mnist_subset
from .energy import price
from .files import write_json

STEPS = (8, 16, 32, 64)
PROFILES = ("loihi2018", "horowitz45-fp32", "horowitz45-int8")


def demo(steps=STEPS, epochs: int = 15, calibration: int = 1000, seed: int = 0, progress: bool = True) -> dict:
    digits = mnist_subset()
    train_x, test_x = images_to_tensor(digits.train_images), images_to_tensor(digits.test_images)
    torch.manual_seed(seed)  # the initial weights
    model = train_classifier(lenet_ann(), train_x, digits.train_labels, epochs=epochs, seed=seed, progress=progress)
    ann_acc = accuracy(model, test_x, digits.test_labels)
    ann_s = seconds_per_image(model, test_x)
    calib = train_x[torch.randperm(len(train_x), generator=torch.Generator().manual_seed(seed))[:calibration]]
    converted = convert(model, calib)
    event = evaluate(converted, test_x.numpy(), digits.test_labels, steps, progress=progress)
    dense = evaluate(converted, test_x.numpy(), digits.test_labels, steps, backend="dense", progress=progress)
    c = event.counts
    per_step_macs = int(c.dense_macs[0].sum()) / c.batch
    energy = {}
    for name in PROFILES:
        reports = {t: price(c.head(t), converted.network, name) for t in event.accuracy}
        energy[name] = dict(snn_j_per_image={t: r.total() for t, r in reports.items()},
                            snn_compute_only_j_per_image={t: r.compute_only for t, r in reports.items()},
                            dense_snn_j_per_image={t: r.total("dense_snn") for t, r in reports.items()},
                            ann_j_per_image=reports[max(reports)].total("ann"))
    return dict(
        model="LeNet-like CNN (conv 16x5x5, avgpool, conv 32x5x5, avgpool, fc 128, fc 10)",
        train_images=len(train_x), test_images=len(test_x), epochs=epochs, calibration_images=calibration,
        ann_accuracy=ann_acc,
        snn_accuracy=event.accuracy,
        dense_backend_accuracy=dense.accuracy,
        predictions_differing=int((event.predictions != dense.predictions).sum()),
        counts_identical=bool(event.counts == dense.counts),
        spike_count_difference=int(np.abs(event.counts.spikes - dense.counts.spikes).sum()),
        spikes_per_image=int(event.counts.spikes.sum()) / event.images,
        synaptic_events_per_image=event.synaptic_events,
        input_macs_per_image=event.effective_macs,
        dense_macs_per_image={t: per_step_macs * t for t in event.accuracy},
        ann_macs_per_image=per_step_macs,
        firing_rates=event.rates,
        event_s_per_image=event.seconds_per_image,
        dense_s_per_image=dense.seconds_per_image,
        ann_s_per_image=ann_s,
        steps_run=max(event.accuracy),
        energy=energy,
    )


def format_table(r: dict) -> str:
    ts = list(r["snn_accuracy"])
    lines = [f"{r['model']}",
             f"trained {r['epochs']} epochs on {r['train_images']} MNIST images; tested on {r['test_images']}; "
             f"ANN accuracy {100 * r['ann_accuracy']:.1f} %",
             f"converted: IF neurons, reset by subtraction, 99.9th-percentile normalization on "
             f"{r['calibration_images']} images, analog input; one run of {r['steps_run']} steps",
             "",
             f"{'steps T':<28}" + "".join(f"{t:>12}" for t in ts),
             f"{'SNN accuracy %':<28}" + "".join(f"{100 * r['snn_accuracy'][t]:>12.1f}" for t in ts),
             f"{'synaptic events / image':<28}" + "".join(f"{r['synaptic_events_per_image'][t]:>12.3g}" for t in ts),
             f"{'input MACs / image':<28}" + "".join(f"{r['input_macs_per_image'][t]:>12.3g}" for t in ts),
             f"{'dense SNN MACs / image':<28}" + "".join(f"{r['dense_macs_per_image'][t]:>12.3g}" for t in ts),
             ""]
    for name, e in r["energy"].items():
        ann = f" J; ANN {e['ann_j_per_image']:.3g} J" if e["ann_j_per_image"] is not None else " J"
        lines.append(f"{'J / image, ' + name:<28}" + "".join(f"{e['snn_j_per_image'][t]:>12.3g}" for t in ts)
                     + ann)
    lines += ["",
             f"ANN: {r['ann_macs_per_image']:.3g} MACs / image",
             f"time / image (T = {r['steps_run']}): event-driven {1e3 * r['event_s_per_image']:.2f} ms, "
             f"dense reference {1e3 * r['dense_s_per_image']:.2f} ms, ANN (torch, batch {r['test_images']}) "
             f"{1e3 * r['ann_s_per_image']:.3f} ms",
             f"event-driven vs dense backend: counts identical: {r['counts_identical']}; spike counts per step and "
             f"layer differ by {r['spike_count_difference']} in total (of {r['spikes_per_image'] * r['test_images']:.3g} "
             "spikes; float32 sums in another order flip spikes that sit on the threshold); predictions differing "
             f"(of {r['test_images']} x {len(ts)}): {r['predictions_differing']}"]
    return "\n".join(lines)


def main(args) -> None:
    began = time.perf_counter()
    result = demo()
    result["total_s"] = time.perf_counter() - began
    print(format_table(result))
    print(f"total {result['total_s']:.0f} s")
    if args.json:
        write_json(args.json, result)
