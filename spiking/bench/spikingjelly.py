"""Our ANN-to-SNN converter beside SpikingJelly 2.0.0's on the same trained LeNet, calibration and test images.

In one process: trains the LeNet-like ANN once (15 epochs of Adam, seed 0) on the 4,000 training
images of the MNIST subset, takes 1,000 training images in a seeded shuffled order as calibration
data, in batches of 100, and hands the same batches in the same order to both converters
(SpikingJelly's scales are running averages over the batches, so the order matters; ours use every
value at once). SpikingJelly's conversions (``FXConverter`` with ``RateCodingRecipe`` max, 99.9 %
and channel-wise 99.9 % with and without half-threshold initial membranes, and
``LocalThresholdBalancingRecipe``) each get their own copy of the ANN and run in torch on the
static analog image every step, reset between batches, their output summed over steps, as their
examples do; their IF neurons' spikes are counted by forward hooks. Ours (99.9th percentile per
layer, the default; per channel; max), all with half-threshold initial membranes, run event-driven
through ``spiking.convert.evaluate``. Every network runs 64 steps once and is scored after 8, 16,
32 and 64. Per T, the table marks SpikingJelly's best mode and says whether ours reaches it, and on
how many test images our default and their best differ in being right.

SpikingJelly is not a dependency of ``spiking``; install it beside the CPU build of torch with
``pip install torch==2.13.0 torchvision==0.28.0 spikingjelly``.

    python -m spiking.bench.spikingjelly [--json FILE] [--markdown] [--seed 0]
"""
from __future__ import annotations

import argparse
import copy
import time

import numpy as np
import torch
from tqdm import tqdm

from ..convert import convert, evaluate
from ..datasets import mnist_subset
from ..errors import ConversionError
from ..files import write_json
from .train import accuracy, images_to_tensor, lenet_ann, train_classifier

STEPS = (8, 16, 32, 64)
INSTALL = "pip install torch==2.13.0 torchvision==0.28.0 spikingjelly"

SPIKINGJELLY_MODES = {
    "SpikingJelly max": dict(recipe="RateCodingRecipe", mode="Max"),
    "SpikingJelly 99.9 %": dict(recipe="RateCodingRecipe", mode="99.9%"),
    "SpikingJelly channel-wise 99.9 %": dict(recipe="RateCodingRecipe", mode="99.9%", channel_wise=True),
    "SpikingJelly channel-wise 99.9 %, half threshold": dict(recipe="RateCodingRecipe", mode="99.9%",
                                                             channel_wise=True, half_threshold=True),
    "SpikingJelly threshold balancing": dict(recipe="LocalThresholdBalancingRecipe"),
}
OUR_MODES = {
    "ours 99.9 %, half threshold (default)": dict(),
    "ours per-channel 99.9 %": dict(per_channel=True),
    "ours max": dict(normalization="max"),
}
DEFAULT = "ours 99.9 %, half threshold (default)"


def _ann2snn():
    """SpikingJelly's converter package and its ``functional`` and ``neuron`` modules."""
    try:
        from spikingjelly.activation_based import ann2snn, functional, neuron
    except ImportError as exc:
        raise ImportError(f"this comparison needs SpikingJelly 2.0.0 ({exc}); install it with: {INSTALL}") from exc
    return ann2snn, functional, neuron


def spikingjelly_convert(model, calibration: list, options: dict):
    """SpikingJelly's single-step SNN of a copy of ``model`` (its converter changes the model it gets)."""
    ann2snn, _, _ = _ann2snn()
    options = dict(options)
    recipe = getattr(ann2snn, options.pop("recipe"))(dataloader=calibration, **options)
    return ann2snn.FXConverter(recipe, device="cpu").convert(copy.deepcopy(model))


@torch.no_grad()
def spikingjelly_evaluate(snn, images: torch.Tensor, labels, steps=STEPS, batch_size: int = 100,
                          progress: bool = False) -> dict:
    """Accuracy and spikes per image after each of ``steps`` in one run of ``max(steps)`` steps.

    Every step the network gets the analog image and its output is added up; the prediction at ``T``
    is the argmax of the sum of the first ``T`` outputs. Spikes are the ones of all its IF neurons.
    """
    _, functional, neuron = _ann2snn()
    snn.eval()
    labels = torch.as_tensor(np.asarray(labels))
    checkpoints = sorted(steps)
    fired = [0]

    def count(_module, _inputs, out):
        fired[0] += int(out.sum())

    hooks = [m.register_forward_hook(count) for m in snn.modules() if isinstance(m, neuron.BaseNode)]
    if not hooks:
        raise ConversionError("SpikingJelly's converted network has no spiking neurons to count")
    spikes = dict.fromkeys(checkpoints, 0)
    predictions = []
    began = time.perf_counter()
    try:
        for lo in tqdm(range(0, len(images), batch_size), desc="SpikingJelly SNN", unit="batch",
                       disable=not progress, leave=False):
            x = images[lo:lo + batch_size]
            functional.reset_net(snn)
            total, guesses = 0, []
            for t in range(1, checkpoints[-1] + 1):
                total = total + snn(x)
                if t in spikes:
                    guesses.append(total.argmax(1))
                    spikes[t] += fired[0]
            fired[0] = 0
            predictions.append(torch.stack(guesses, 1))
    finally:
        for h in hooks:
            h.remove()
    n = len(images)
    predictions = torch.cat(predictions).numpy()
    return dict(accuracy={t: float((predictions[:, k] == labels.numpy()).mean()) for k, t in enumerate(checkpoints)},
                spikes_per_image={t: spikes[t] / n for t in checkpoints},
                seconds_per_image=(time.perf_counter() - began) / n, predictions=predictions)


def our_evaluate(model, calibration: list, options: dict, images: np.ndarray, labels, steps=STEPS,
                 progress: bool = False) -> dict:
    """Accuracy, spikes and synaptic events per image of our conversion, run event-driven, and its
    predictions ``[N, len(steps)]``."""
    began = time.perf_counter()
    converted = convert(copy.deepcopy(model), calibration, **options)
    convert_s = time.perf_counter() - began
    ev = evaluate(converted, images, labels, steps, progress=progress)
    per_step = ev.counts.spikes.sum(axis=1).cumsum()
    return dict(accuracy=ev.accuracy,
                spikes_per_image={t: float(per_step[t - 1]) / ev.images for t in ev.accuracy},
                synaptic_events_per_image=ev.synaptic_events, convert_s=convert_s,
                seconds_per_image=ev.seconds_per_image, predictions=ev.predictions)


def compare(steps=STEPS, epochs: int = 15, calibration_images: int = 1000, calibration_batch: int = 100,
            seed: int = 0, progress: bool = True) -> dict:
    """Train, convert with every mode of both libraries, run, and compare (see the module docstring)."""
    _ann2snn()
    steps = sorted(steps)
    digits = mnist_subset()
    train_x, test_x = images_to_tensor(digits.train_images), images_to_tensor(digits.test_images)
    torch.manual_seed(seed)  # the initial weights: train_classifier seeds only the training that follows
    model = train_classifier(lenet_ann(), train_x, digits.train_labels, epochs=epochs, seed=seed, progress=progress)
    ann_acc = accuracy(model, test_x, digits.test_labels)
    order = torch.randperm(len(train_x), generator=torch.Generator().manual_seed(seed))[:calibration_images]
    calibration = [train_x[order[lo:lo + calibration_batch]] for lo in range(0, len(order), calibration_batch)]
    methods, predictions = {}, {}
    bar = tqdm(total=len(SPIKINGJELLY_MODES) + len(OUR_MODES), desc="conversions", unit="method",
               disable=not progress)
    for name, options in SPIKINGJELLY_MODES.items():
        bar.set_postfix_str(name)
        began = time.perf_counter()
        snn = spikingjelly_convert(model, calibration, options)
        convert_s = time.perf_counter() - began
        row = spikingjelly_evaluate(snn, test_x, digits.test_labels, steps, progress=progress)
        predictions[name] = row.pop("predictions")
        methods[name] = dict(library="spikingjelly", options=options, convert_s=convert_s, **row)
        bar.update()
    for name, options in OUR_MODES.items():
        bar.set_postfix_str(name)
        row = our_evaluate(model, calibration, options, test_x.numpy(), digits.test_labels, steps, progress)
        predictions[name] = row.pop("predictions")
        methods[name] = dict(library="spiking", options=options, **row)
        bar.update()
    bar.close()
    return dict(ann_accuracy=ann_acc, train_images=len(train_x), test_images=len(test_x), epochs=epochs,
                calibration_images=calibration_images, calibration_batch=calibration_batch, seed=seed,
                steps=steps, methods=methods, verdict=verdict(methods, predictions, digits.test_labels, steps),
                torch_threads=torch.get_num_threads())


def verdict(methods: dict, predictions: dict, labels, steps=STEPS) -> dict:
    """Per T: SpikingJelly's best mode, our best and our default, whether ours reaches theirs, and on
    how many test images our default and their best disagree in correctness (each way)."""
    labels = np.asarray(labels)
    out = {}
    for k, t in enumerate(steps):
        theirs = {n: m["accuracy"][t] for n, m in methods.items() if m["library"] == "spikingjelly"}
        ours = {n: m["accuracy"][t] for n, m in methods.items() if m["library"] == "spiking"}
        best_sj = max(theirs, key=theirs.get)
        best_ours = max(ours, key=ours.get)
        right_sj = predictions[best_sj][:, k] == labels
        right_default = predictions[DEFAULT][:, k] == labels
        out[t] = dict(best_spikingjelly=best_sj, best_spikingjelly_accuracy=theirs[best_sj],
                      best_ours=best_ours, best_ours_accuracy=ours[best_ours],
                      best_ours_at_least_theirs=ours[best_ours] >= theirs[best_sj],
                      default_accuracy=ours[DEFAULT], default_at_least_theirs=ours[DEFAULT] >= theirs[best_sj],
                      only_default_right=int((right_default & ~right_sj).sum()),
                      only_theirs_right=int((right_sj & ~right_default).sum()))
    return out


def _rows(result: dict):
    """(method, accuracy cells, spikes, synaptic events) with SpikingJelly's best per T marked ``*``."""
    steps, last = result["steps"], max(result["steps"])
    best = {t: result["verdict"][t]["best_spikingjelly"] for t in steps}
    for name, m in result["methods"].items():
        cells = [f"{100 * m['accuracy'][t]:.1f}" + ("*" if best[t] == name else "") for t in steps]
        events = m.get("synaptic_events_per_image", {}).get(last)
        yield name, cells, f"{m['spikes_per_image'][last]:,.0f}", "" if events is None else f"{events:,.0f}"


def _verdict_lines(result: dict) -> list:
    lines = []
    for t, v in result["verdict"].items():
        gap = 100 * (v["best_ours_accuracy"] - v["best_spikingjelly_accuracy"])
        reach = {True: ">=", False: "<"}
        lines.append(
            f"T = {t}: SpikingJelly best {100 * v['best_spikingjelly_accuracy']:.1f} % ({v['best_spikingjelly']}); "
            f"ours best {100 * v['best_ours_accuracy']:.1f} % ({v['best_ours']}, {gap:+.1f} points, "
            f"{reach[v['best_ours_at_least_theirs']]} theirs); ours default {100 * v['default_accuracy']:.1f} % "
            f"({reach[v['default_at_least_theirs']]} theirs; test images only ours gets right: "
            f"{v['only_default_right']}, only theirs: {v['only_theirs_right']})")
    return lines


def _header(result: dict) -> str:
    return (f"LeNet-like CNN trained {result['epochs']} epochs on {result['train_images']} MNIST images; ANN accuracy "
            f"{100 * result['ann_accuracy']:.1f} % on {result['test_images']} test images; both converters "
            f"calibrated on the same {result['calibration_images']} training images in the same shuffled order "
            f"(batches of {result['calibration_batch']}); analog input, one run of {max(result['steps'])} steps")


def format_table(result: dict) -> str:
    steps, last = result["steps"], max(result["steps"])
    width = max(len(n) for n in result["methods"]) + 2
    head = (f"{'accuracy % at T =':<{width}}" + "".join(f"{t:>8}" for t in steps)
            + f"{f'spikes/img T={last}':>18}{f'syn. events/img T={last}':>24}")
    lines = [_header(result), "", head]
    for name, cells, spikes, events in _rows(result):
        lines.append(f"{name:<{width}}" + "".join(f"{c:>8}" for c in cells) + f"{spikes:>18}{events:>24}")
    lines += ["", "* SpikingJelly's best mode at that T"] + _verdict_lines(result)
    return "\n".join(lines)


def format_markdown(result: dict) -> str:
    steps, last = result["steps"], max(result["steps"])
    lines = [_header(result) + ".", "",
             "| method | " + " | ".join(f"T = {t}" for t in steps) + f" | spikes / image (T = {last}) "
             f"| synaptic events / image (T = {last}) |",
             "|---|" + "---:|" * (len(steps) + 2)]
    for name, cells, spikes, events in _rows(result):
        cells = [f"**{c[:-1]}**" if c.endswith("*") else c for c in cells]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {spikes} | {events} |")
    lines += ["", "Accuracy in %; bold: SpikingJelly's best mode at that T.", ""]
    lines += [f"- {line}" for line in _verdict_lines(result)]
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="write every figure to this JSON file")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown (for the README)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the training and of the calibration order")
    args = parser.parse_args(argv)
    try:
        _ann2snn()
    except ImportError as exc:
        parser.exit(2, f"{exc}\n")
    began = time.perf_counter()
    result = compare(seed=args.seed)
    result["total_s"] = time.perf_counter() - began
    print(format_markdown(result) if args.markdown else format_table(result))
    print(f"total {result['total_s']:.0f} s")
    if args.json:
        write_json(args.json, result)


if __name__ == "__main__":
    main()
