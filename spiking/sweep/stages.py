"""The work behind each point of a sweep, cut into stages that points share.

train (per activity penalty) -> prune with fine-tuning (per weight sparsity) -> convert, quantize
(per weight bits and percentile) -> measure (one event-driven run at the longest T for accuracy and
counts, whose prefixes give every shorter T; timed runs of each T on both backends) -> row (per T:
counts of the first T steps, priced on each profile). Every stage runs on one thread, so a point
computes the same on any worker and timings are not skewed by two workers sharing cores.
"""
from __future__ import annotations

import contextlib
import dataclasses
from functools import lru_cache

import numba
import numpy as np
import torch

from .. import compress
from ..bench.train import accuracy, images_to_tensor, lenet_ann, train_classifier
from ..convert import Converted, convert, evaluate
from ..datasets import mnist_subset
from ..energy import price, profile as get_profile
from ..errors import ValidationError
from .grid import FLOAT_BITS, POINT_COLUMNS, Point

MODELS = {"lenet": lenet_ann}
DATASETS = ("mnist-subset",)


@contextlib.contextmanager
def one_thread():
    """torch and numba on one thread inside the block."""
    torch_threads, numba_threads = torch.get_num_threads(), numba.get_num_threads()
    torch.set_num_threads(1)
    numba.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(torch_threads)
        numba.set_num_threads(numba_threads)


@lru_cache(maxsize=1)
def data(name: str):
    """``(train images, train labels, test images, test labels)``; images as float tensors in [0, 1]."""
    if name not in DATASETS:
        raise ValidationError(f"dataset must be one of {DATASETS}, got {name!r}")
    digits = mnist_subset()
    return (images_to_tensor(digits.train_images), np.asarray(digits.train_labels),
            images_to_tensor(digits.test_images), np.asarray(digits.test_labels))


def subset(images, labels, n: int | None, seed: int):
    """``n`` images drawn without replacement in a seeded order (the splits are sorted by class),
    kept in file order; all of them where ``n`` is None."""
    if n is None:
        return images, labels
    if not 1 <= n <= len(labels):
        raise ValidationError(f"asked for {n} images of a split of {len(labels)}")
    index = np.sort(np.random.default_rng(seed).permutation(len(labels))[:n])
    return images[index], labels[index]


def training_data(settings: dict):
    """The training images and labels the settings use."""
    train_x, train_y, _, _ = data(settings["dataset"])
    return subset(train_x, train_y, settings["train_images"], settings["seed"])


def test_data(settings: dict, n_key: str = "test_images"):
    """The test images (as a numpy array) and labels the settings use, or the timing images."""
    _, _, test_x, test_y = data(settings["dataset"])
    return subset(test_x.numpy(), test_y, settings[n_key], settings["seed"])


def train(settings: dict, penalty: float) -> torch.nn.Module:
    """The ANN trained for ``settings["epochs"]``, with the activity regularizer where ``penalty > 0``."""
    if settings["model"] not in MODELS:
        raise ValidationError(f"model must be one of {tuple(MODELS)}, got {settings['model']!r}")
    train_x, train_y = training_data(settings)
    with one_thread():
        torch.manual_seed(settings["seed"])  # the initial weights
        model = MODELS[settings["model"]]()
        if penalty == 0:
            return train_classifier(model, train_x, train_y, epochs=settings["epochs"], seed=settings["seed"])
        regularizer = compress.activity_penalty(model, penalty)
        try:
            return train_classifier(model, train_x, train_y, epochs=settings["epochs"], seed=settings["seed"],
                                    penalty=regularizer)
        finally:
            regularizer.remove()


def prune(settings: dict, model: torch.nn.Module, sparsity: float) -> torch.nn.Module:
    """``model`` with the ``sparsity`` fraction of its weights pruned by magnitude and fine-tuned."""
    train_x, train_y = training_data(settings)
    with one_thread():
        return compress.prune(model, sparsity, scope=settings["scope"], steps=settings["prune_steps"],
                               finetune=(train_x, train_y, settings["finetune_epochs"]), seed=settings["seed"])


@dataclasses.dataclass(frozen=True, eq=False)
class Built:
    """A converted (and quantized) network with the accuracy of the ANN it came from."""

    converted: Converted
    ann_accuracy: float


def build(settings: dict, model: torch.nn.Module, bits: int, percentile: float) -> Built:
    """Convert ``model`` with ``percentile`` normalization, then quantize its weights to ``bits``."""
    train_x, _ = training_data(settings)
    test_x, test_y = test_data(settings)
    calibration = train_x[torch.randperm(len(train_x), generator=torch.Generator().manual_seed(settings["seed"]))
                          [:settings["calibration"]]]
    with one_thread():
        ann = accuracy(model, torch.from_numpy(test_x), test_y)
        converted = convert(model, calibration, normalization="percentile", percentile=percentile)
    net = converted.network
    if bits != FLOAT_BITS:
        net = compress.quantize(net, bits, per_channel=settings["per_channel"])
    converted = dataclasses.replace(converted, network=compress.sparsify(net))
    return Built(converted, ann)


@dataclasses.dataclass(frozen=True, eq=False)
class Measured:
    """One event-driven run at the longest T (accuracy at every T of the grid, counts), and the best
    time per image of ``repeats`` runs of each T on each backend over the timing images."""

    accuracy: dict
    counts: object
    event_s: dict
    dense_s: dict


def measure(settings: dict, built: Built, steps: tuple) -> Measured:
    x, y = test_data(settings)
    tx, ty = test_data(settings, "time_images")
    size = settings["batch_size"]
    with one_thread():
        run = evaluate(built.converted, x, y, steps, batch_size=size)
        times = {backend: {t: min(evaluate(built.converted, tx, ty, (t,), batch_size=size, backend=backend)
                                  .seconds_per_image for _ in range(settings["repeats"]))
                           for t in steps}
                 for backend in ("event", "dense")}
    return Measured(run.accuracy, run.counts, times["event"], times["dense"])


def row(settings: dict, point: Point, built: Built, measured: Measured) -> dict:
    """The results of ``point``: accuracy, counts per image, energy per profile, times per image."""
    net = built.converted.network
    counts = measured.counts.head(point.steps)
    n = counts.batch
    out = dict(zip(POINT_COLUMNS, point.columns))
    out.update(weight_sparsity=compress.sparsity(net), ann_accuracy=built.ann_accuracy,
               accuracy=measured.accuracy[point.steps],
               spikes=int(counts.spikes.sum()) / n, synaptic_events=int(counts.synaptic_events.sum()) / n,
               input_macs=int(counts.effective_macs.sum()) / n, dense_macs=int(counts.dense_macs.sum()) / n)
    reports = {}
    for name in settings["profiles"]:
        prof = get_profile(name)
        reports[name] = price(counts, net, dataclasses.replace(prof, weight_bits=min(prof.weight_bits, point.bits)))
    out["activity"] = next(iter(reports.values())).break_even["network"].activity
    for name, report in reports.items():
        out.update({f"{name}:compute_j": report.compute_only, f"{name}:total_j": report.total(),
                    f"{name}:dense_snn_j": report.total("dense_snn"), f"{name}:ann_j": report.total("ann"),
                    f"{name}:break_even": report.break_even["network"].break_even})
    out.update(event_s=measured.event_s[point.steps], dense_s=measured.dense_s[point.steps])
    return out
