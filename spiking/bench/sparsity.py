"""Weight sparsity against event-driven cost on the converted LeNet-like CNN.

Pruned to 0, 50, 80 and 90 % zero weights, the network runs event-driven on the same MNIST test images.

For each sparsity the trained ANN is magnitude-pruned (global or per layer, in ``prune_steps`` steps
of the cubic schedule with ``finetune_epochs`` of fine-tuning after each, as the sweep does), converted
and run for ``steps`` steps, as converted (Linear weights as dense rows; a convolution with at most
``SPARSE_CONV_DENSITY`` non-zero weights runs sparse by itself) and with its pruned Linear layers
made ``Sparse`` (CSR). Reported per sparsity: accuracy, synaptic events and input MACs per image,
and the event-driven time of both forms (best of warm repeats, the plans compiled beforehand),
each also as a ratio to the unpruned network's.
"""
from __future__ import annotations

import argparse

import torch

from ..compress import prune, sparsify, sparsity
from ..convert import convert, evaluate
from ..datasets import mnist_subset
from ..runtime import compile_network, currents, run
from .timing import best_times
from .train import images_to_tensor, lenet_ann, train_classifier
from ..files import write_json

SPARSITIES = (0.0, 0.5, 0.8, 0.9)


def trained_lenet(epochs: int = 8, seed: int = 0, calibration: int = 500):
    """The LeNet-like ANN trained on the MNIST subset, its calibration images, and the test set."""
    digits = mnist_subset()
    train_x, test_x = images_to_tensor(digits.train_images), images_to_tensor(digits.test_images)
    model = train_classifier(lenet_ann(), train_x, digits.train_labels, epochs=epochs, seed=seed)
    calib = train_x[torch.randperm(len(train_x), generator=torch.Generator().manual_seed(seed))[:calibration]]
    return model, calib, (train_x, digits.train_labels), (test_x.numpy(), digits.test_labels)


def bench_sparsity(sparsities=SPARSITIES, steps: int = 32, images: int = 200, epochs: int = 8,
                   finetune_epochs: int = 1, prune_steps: int = 3, scope: str = "global", seed: int = 0,
                   budget_s: float = 3.0) -> dict:
    model, calib, (train_x, train_y), (test_x, test_y) = trained_lenet(epochs, seed)
    x, y = test_x[:images], test_y[:images]
    stim = currents(x)
    rows, runs = [], []
    for s in sparsities:
        tune = (train_x, train_y, finetune_epochs) if s > 0 and finetune_epochs else None
        pruned = prune(model, s, scope=scope, finetune=tune, steps=prune_steps if tune else 1)
        converted = convert(pruned, calib)
        ev = evaluate(converted, x, y, steps)
        for net in (converted.network, sparsify(converted.network)):
            plan = compile_network(net)
            runs.append(lambda net=net, plan=plan: run(net, stim, steps, plan=plan, record_membrane=True))
        rows.append(dict(sparsity=s, measured_sparsity=sparsity(converted.network), accuracy=ev.accuracy[steps],
                         synaptic_events=ev.synaptic_events[steps], input_macs=ev.effective_macs[steps]))
    times = best_times(runs, min_repeats=3, budget_s=budget_s)
    for k, row in enumerate(rows):
        row["event_s_per_image"] = times[2 * k] / images
        row["sparsified_event_s_per_image"] = times[2 * k + 1] / images
        for key in ("synaptic_events", "input_macs", "event_s_per_image", "sparsified_event_s_per_image"):
            row[f"{key}_ratio"] = row[key] / rows[0][key] if rows[0][key] else float("nan")
    return dict(steps=steps, images=images, epochs=epochs, finetune_epochs=finetune_epochs, prune_steps=prune_steps,
                scope=scope, rows=rows)


def format_table(r: dict) -> str:
    head = (f"{'sparsity':>9}{'accuracy %':>11}{'syn. events':>13}{'ratio':>7}{'input MACs':>12}{'ratio':>7}"
            f"{'event ms':>10}{'ratio':>7}{'CSR ms':>9}{'ratio':>7}")
    lines = [f"converted LeNet-like CNN pruned ({r['scope']}), {r['images']} MNIST test images, T = {r['steps']}, "
             "per image; event ms: as converted, CSR ms: Linear layers sparsified", head]
    for row in r["rows"]:
        lines.append(f"{100 * row['measured_sparsity']:>8.1f}%{100 * row['accuracy']:>11.1f}"
                     f"{row['synaptic_events']:>13.4g}{row['synaptic_events_ratio']:>7.3f}"
                     f"{row['input_macs']:>12.4g}{row['input_macs_ratio']:>7.3f}"
                     f"{1e3 * row['event_s_per_image']:>10.3f}{row['event_s_per_image_ratio']:>7.3f}"
                     f"{1e3 * row['sparsified_event_s_per_image']:>9.3f}"
                     f"{row['sparsified_event_s_per_image_ratio']:>7.3f}")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=32, help="timesteps per image")
    parser.add_argument("--images", type=int, default=200, help="test images run and timed")
    parser.add_argument("--epochs", type=int, default=8, help="training epochs of the ANN")
    parser.add_argument("--finetune-epochs", type=int, default=1, help="after each pruning step")
    parser.add_argument("--prune-steps", type=int, default=3, help="steps of the cubic pruning schedule")
    parser.add_argument("--scope", choices=("global", "layer"), default="global",
                        help="prune to the sparsity over all layers together, or in every layer")
    parser.add_argument("--budget", type=float, default=3.0, help="seconds of interleaved timing repeats")
    parser.add_argument("--json", help="write the results to this file")
    args = parser.parse_args(argv)
    result = bench_sparsity(steps=args.steps, images=args.images, epochs=args.epochs,
                            finetune_epochs=args.finetune_epochs, prune_steps=args.prune_steps, scope=args.scope,
                            budget_s=args.budget)
    print(format_table(result))
    if args.json:
        write_json(args.json, result)


if __name__ == "__main__":
    main()
