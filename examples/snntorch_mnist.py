"""Train a small snnTorch network on the MNIST subset, import it, and run it event-driven.

An MLP 784-256-10 of ``snn.Leaky`` neurons (beta 0.875, reset by subtraction) is trained for a few
epochs on the 4,000 training images, rate-coded (each pixel spikes with probability intensity/255 at
each of ``--steps`` steps), with a cross-entropy loss on the output spike counts. Its weights and
biases are then rounded to multiples of 2^-10, so that every sum of synaptic current is exact in
float32 whatever its order: snnTorch's dense matmul and our event-driven sums give the same
membranes bit for bit, hence the same spikes and the same predictions (checked image by image).

On the 1,000 test images (one rate-coded draw, the same tensor for both) it prints snnTorch's and
our accuracy, our exact counts per image (synaptic events, dense MACs of the same network run
densely), their energy per image priced by ``spiking.energy``, and the speed-up of our event-driven
run over snnTorch's forward pass on the same inputs (best of warm repeats in this process; both
take the whole test set as one batch; input encoding is outside the timed region for both).

    python examples/snntorch_mnist.py [--epochs 3] [--steps 20] [--seed 0] [--json out.json]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import snntorch as snn
import torch
from torch import nn

import spiking as sp
from spiking.bench.timing import best_times
from spiking.datasets.mnist import mnist_subset
from spiking.energy import price
from spiking.interop import from_snntorch
from spiking.files import write_json

GRID = 2.0 ** -10  # weights and biases k / 1024: every partial sum below 2^13 is exact in float32


def rate_code(images: np.ndarray, steps: int, rng: np.random.Generator) -> np.ndarray:
    """Spikes ``[steps, N, 784]`` (float32 0/1): pixel i spikes with probability images[i] / 255."""
    p = images.reshape(len(images), -1).astype(np.float32) / 255.0
    return (rng.random((steps,) + p.shape, dtype=np.float32) < p).astype(np.float32)


def snntorch_counts(model: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    """Output spike counts ``[N, 10]`` of snnTorch's own forward pass over ``x [T, N, 784]``."""
    for m in model.modules():
        if isinstance(m, snn.SpikingNeuron):
            m.reset_mem()
    total = 0
    for xt in x:
        total = total + model(xt)
    return total


def train(model: nn.Sequential, images: np.ndarray, labels: np.ndarray, args, rng) -> None:
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    for epoch in range(args.epochs):
        order = rng.permutation(len(images))
        t0, correct = time.perf_counter(), 0
        for start in range(0, len(order), args.batch):
            idx = order[start:start + args.batch]
            x = torch.from_numpy(rate_code(images[idx], args.steps, rng))
            y = torch.from_numpy(labels[idx])
            counts = snntorch_counts(model, x)
            loss = nn.functional.cross_entropy(counts, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            correct += int((counts.argmax(1) == y).sum())
        print(f"epoch {epoch + 1}: train accuracy {correct / len(images):.3f} ({time.perf_counter() - t0:.1f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    digits = mnist_subset()

    model = nn.Sequential(nn.Linear(784, 256), snn.Leaky(beta=0.875, init_hidden=True),
                          nn.Linear(256, 10), snn.Leaky(beta=0.875, init_hidden=True))
    train(model, digits.train_images, digits.train_labels, args, rng)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Linear):
                m.weight.copy_(torch.round(m.weight / GRID) * GRID)
                m.bias.copy_(torch.round(m.bias / GRID) * GRID)

    net = from_snntorch(model, (784,))
    x = rate_code(digits.test_images, args.steps, np.random.default_rng(args.seed + 1))
    xt, stim, labels = torch.from_numpy(x), sp.spikes(x), digits.test_labels
    plan = sp.compile_network(net)
    with torch.no_grad():
        ref = snntorch_counts(model, xt).numpy()
    res = sp.run(net, stim, plan=plan)
    same = np.array_equal(res.output_spikes, ref)
    acc_ref = float((ref.argmax(1) == labels).mean())
    acc_ours = float((res.output_spikes.argmax(1) == labels).mean())

    with torch.no_grad():
        t_ref, t_ours = best_times([lambda: snntorch_counts(model, xt), lambda: sp.run(net, stim, plan=plan)])
    n = len(labels)
    totals = res.counts.totals()
    events = sum(totals["synaptic_events"].values()) / n
    dense = sum(totals["dense_macs"].values()) / n
    horowitz = price(res, net, "horowitz45-fp32")
    loihi = price(res, net, "loihi2018")
    figures = {
        "test_images": n, "steps": args.steps, "accuracy_snntorch": acc_ref, "accuracy_spiking": acc_ours,
        "identical_output_spikes": bool(same), "synaptic_events_per_image": events,
        "dense_macs_per_image": dense, "spikes_per_image": float(res.counts.spikes.sum()) / n,
        "energy_per_image_j": {"horowitz45-fp32 snn": horowitz.total("snn"),
                               "horowitz45-fp32 ann": horowitz.total("ann"), "loihi2018 snn": loihi.total("snn")},
        "time_snntorch_s": t_ref, "time_event_s": t_ours, "speedup_event_over_snntorch": t_ref / t_ours,
        "torch_threads": torch.get_num_threads(),
    }
    print(f"test accuracy: snnTorch {acc_ref:.4f}, spiking {acc_ours:.4f} "
          f"({'identical output spikes for every image' if same else 'OUTPUT SPIKES DIFFER'})")
    print(f"per image: {events:,.0f} synaptic events, {figures['spikes_per_image']:,.0f} spikes, "
          f"{dense:,.0f} dense MACs (the same network run densely)")
    for name, joules in figures["energy_per_image_j"].items():
        print(f"energy per image, {name}: {joules * 1e6:.3f} uJ" if joules is not None else
              f"energy per image, {name}: not priced")
    print(f"{n} images x {args.steps} steps: snnTorch {t_ref:.3f} s, event-driven {t_ours:.3f} s, "
          f"speed-up {t_ref / t_ours:.1f}x (best of warm repeats, {torch.get_num_threads()} torch threads)")
    if args.json:
        write_json(args.json, figures)
    if not same:
        raise SystemExit("snnTorch and spiking disagree")


if __name__ == "__main__":
    main()
