"""The event-camera demo: a convolutional SNN trained on synthetic N-MNIST and fed camera events directly.

The synthetic N-MNIST splits (``spiking.datasets.make_synthetic_nmnist``: the 4,000 / 1,000 images of
the MNIST subset moved through N-MNIST's saccades in front of the DVS emulator) are made once and kept
in a cache folder. Each sample's events are moved back along the known saccade path (``stabilize``)
and binned, polarities merged, into ``STEPS`` steps of ``DT_US`` by ``events_to_stimulus``: that
stimulus of spike counts is what the SNN is fed, event by event, never as analog frames, and its mean
over the steps (spikes per step of each input neuron) is what the ANN sees, so that the ANN's input
equals the SNN's mean input. The ANN is converted with data-based normalization (``spiking.convert``),
scored on the test split, priced in energy, and asked what the real N-MNIST recording in
``../shared/data/events`` shows.

Why stabilised, merged and without biases: a converted IF neuron counts the running sum of its input,
and a spike it fired cannot be taken back. Where the input of a feature arrives in one saccade and the
cancelling input in another, or a bias (a constant current) pulls down between bursts, the SNN fires
more than the ANN's rate says. With the digit held still and both polarities merged, every saccade
brings the same evidence to the same neurons, and the SNN keeps the ANN's accuracy.
"""
from __future__ import annotations

import copy
import os
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .bench.train import accuracy, seconds_per_image, train_classifier
from .convert import convert, evaluate
from .datasets import load_synthetic_nmnist, make_synthetic_nmnist, read
from .datasets.nmnist_synth import SENSOR_SIZE, SPLITS, saccade_path
from .energy import price
from .runtime import compile_network, run
from .runtime.events import events_to_stimulus
from .files import write_json

STEPS = 16
DT_US = 20_000
CHECKPOINTS = (4, 8, 12, 16)
PROFILES = ("loihi2018", "horowitz45-fp32", "horowitz45-int8")
RECORDING = Path(__file__).resolve().parents[2] / "shared" / "data" / "events" / "sample_nmnist.bin"
MODEL = "conv 16x5x5, avgpool, conv 32x5x5, avgpool, fc 128, fc 10 (no biases)"
_PATH = saccade_path()


def cache_folder() -> Path:
    """Where the synthetic splits are kept: ``$XDG_CACHE_HOME/spiking`` (default ``~/.cache/spiking``)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "spiking"


def synthetic_nmnist(folder=None, limit: int | None = None, seed: int = 0, progress: bool = True) -> dict:
    """``{split: (samples, labels)}`` of synthetic N-MNIST, made once into ``folder`` and read from there after.

    A split's file is named by its seed and ``limit`` (first images only) and made again where absent.
    """
    folder = Path(folder) if folder is not None else cache_folder()
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for split in SPLITS:
        path = folder / f"synthetic-nmnist-seed{seed}-{split}{'' if limit is None else f'-first{limit}'}.h5"
        if not path.exists():
            make_synthetic_nmnist(path, split, limit=limit, seed=seed, progress=progress)
        out[split] = load_synthetic_nmnist(path)
    return out


def stabilize(events: np.ndarray) -> np.ndarray:
    """Events moved back along N-MNIST's saccades so that the digit stands still (a new array).

    The pan-tilt path is known (``spiking.datasets.nmnist_synth.saccade_path``); an event at ``t`` µs
    from the start of the recording moves by minus the digit's shift since ``t = 0``, rounded to whole
    pixels. Events moved off the 34 x 34 sensor are dropped; the order is kept.
    """
    times, shift_x, shift_y = _PATH
    x = events["x"].astype(np.int64) - np.rint(np.interp(events["t"], times, shift_x) - shift_x[0]).astype(np.int64)
    y = events["y"].astype(np.int64) - np.rint(np.interp(events["t"], times, shift_y) - shift_y[0]).astype(np.int64)
    keep = (x >= 0) & (x < SENSOR_SIZE[0]) & (y >= 0) & (y < SENSOR_SIZE[1])
    out = events[keep].copy()
    out["x"], out["y"] = x[keep], y[keep]
    return out


def encoder(steps: int = STEPS, dt_us: int = DT_US):
    """Camera events (a list of event arrays, one per sample) -> the spike stimulus of their batch:
    stabilised, polarities merged, shape ``(1, 34, 34)``."""
    return lambda samples: events_to_stimulus([stabilize(ev) for ev in samples], SENSOR_SIZE, steps, dt_us,
                                              merge_polarities=True)


def mean_input(stimulus) -> np.ndarray:
    """Spikes per step of each input neuron averaged over the run: ``float32 [batch, *shape]``."""
    rows = np.repeat(np.arange(stimulus.steps * stimulus.batch), np.diff(stimulus.ptr))
    flat = (rows % stimulus.batch) * stimulus.size + stimulus.index
    total = np.bincount(flat, weights=stimulus.value, minlength=stimulus.batch * stimulus.size)
    return (total / stimulus.steps).astype(np.float32).reshape((stimulus.batch,) + stimulus.shape)


def event_frames(samples, encode, batch_size: int = 500) -> torch.Tensor:
    """The ANN's input: ``mean_input`` of each sample's stimulus, ``[N, P, H, W]``."""
    return torch.from_numpy(np.concatenate([mean_input(encode(samples[lo:lo + batch_size]))
                                            for lo in range(0, len(samples), batch_size)]))


def vision_ann(dropout: float = 0.3) -> nn.Sequential:
    """The ANN that becomes the SNN: two 5x5 convolutions with average pooling, two Linear layers, no biases
    (and no BatchNorm, which folds into biases): see the module docstring."""
    return nn.Sequential(nn.Conv2d(1, 16, 5, bias=False), nn.ReLU(), nn.AvgPool2d(2),
                         nn.Conv2d(16, 32, 5, bias=False), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(),
                         nn.Dropout(dropout), nn.Linear(800, 128, bias=False), nn.ReLU(), nn.Dropout(dropout),
                         nn.Linear(128, 10, bias=False))


def train_on_counts(model: nn.Module, frames: torch.Tensor, labels, steps: int, epochs: int, fine_tune: int = 3,
                    seed: int = 0, progress: bool = False) -> nn.Module:
    """Train ``model`` on event counts over the run (``frames * steps``: a few units, which Adam fits faster
    than means per step), ``epochs`` at lr 1e-3 then ``fine_tune`` at 1e-4; return a copy whose first
    weights are multiplied by ``steps`` so that it reads the mean input per step, as the SNN receives it."""
    model = train_classifier(model, frames * steps, labels, epochs=epochs, seed=seed, progress=progress)
    if fine_tune:
        model = train_classifier(model, frames * steps, labels, epochs=fine_tune, lr=1e-4, seed=seed + 1,
                                 progress=progress)
    per_step = copy.deepcopy(model)
    with torch.no_grad():
        next(m for m in per_step.modules() if isinstance(m, (nn.Conv2d, nn.Linear))).weight.mul_(steps)
    return per_step.eval()


def classify_recording(converted, model: nn.Module, path, encode, steps: int) -> dict:
    """The SNN's and the ANN's answers on one real N-MNIST ``.bin`` recording, with the SNN's scores."""
    events = read(path, sensor_size=SENSOR_SIZE[:2]).events
    stimulus = encode([events])
    result = run(converted.network, stimulus, steps, record_membrane=True, plan=compile_network(converted.network))
    scores = result.membrane_trace[-1, 0]
    with torch.no_grad():
        ann = model(torch.from_numpy(mean_input(stimulus)))[0].numpy()
    return dict(path=os.fspath(path), events=len(events), events_in_window=int(stimulus.value.sum()),
                snn_prediction=int(scores.argmax()), snn_scores=[float(s) for s in scores],
                ann_prediction=int(ann.argmax()),
                synaptic_events=int(result.counts.synaptic_events.sum()))


def demo(data=None, steps: int = STEPS, dt_us: int = DT_US, epochs: int = 12, limit: int | None = None,
         calibration: int = 1000, recording=RECORDING, seed: int = 0, progress: bool = True) -> dict:
    """Train, convert, score and price the event-camera SNN; see the module docstring. Returns the figures."""
    began = time.perf_counter()
    data = synthetic_nmnist(data, limit, progress=progress)
    made_s = time.perf_counter() - began
    (train_ev, train_y), (test_ev, test_y) = data["train"], data["test"]
    encode = encoder(steps, dt_us)
    train_x, test_x = event_frames(train_ev, encode), event_frames(test_ev, encode)
    began = time.perf_counter()
    model = train_on_counts(vision_ann(), train_x, train_y, steps, epochs, seed=seed, progress=progress)
    train_s = time.perf_counter() - began
    ann_acc = accuracy(model, test_x, test_y)
    ann_s = seconds_per_image(model, test_x)
    calib = train_x[torch.randperm(len(train_x), generator=torch.Generator().manual_seed(seed))[:calibration]]
    converted = convert(model, calib)
    checkpoints = sorted({t for t in CHECKPOINTS if t < steps} | {steps})
    event = evaluate(converted, test_ev, test_y, checkpoints, encode=encode, progress=progress)
    c = event.counts
    energy = {}
    for name in PROFILES:
        report = price(c, converted.network, name)
        energy[name] = dict(snn_j_per_sample=report.total(), snn_compute_only_j_per_sample=report.compute_only,
                            dense_snn_j_per_sample=report.total("dense_snn"), ann_j_per_sample=report.total("ann"))
    real = classify_recording(converted, model, recording, encode, steps) if Path(recording).exists() else None
    return dict(
        model=MODEL, sensor=list(SENSOR_SIZE), steps=steps, dt_us=dt_us,
        train_samples=len(train_ev), test_samples=len(test_ev), epochs=epochs, calibration_samples=len(calib),
        events_per_sample=float(np.mean([len(e) for e in test_ev])),
        input_spikes_per_sample=float(c.totals()["spikes"][converted.network.input_population.name]) / len(test_ev),
        ann_accuracy=ann_acc, snn_accuracy=event.accuracy,
        spikes_per_sample=float(c.spikes.sum()) / len(test_ev),
        synaptic_events_per_sample=event.synaptic_events[steps],
        dense_macs_per_sample=float(c.dense_macs.sum()) / len(test_ev),
        ann_macs_per_sample=float(c.dense_macs[0].sum()) / len(test_ev),
        firing_rates=event.rates, energy=energy,
        event_s_per_sample=event.seconds_per_image, ann_s_per_sample=ann_s,
        dataset_s=made_s, train_s=train_s, recording=real)


def format_table(r: dict) -> str:
    ts = list(r["snn_accuracy"])
    n = r["test_samples"]
    lines = [f"event-camera SNN: {r['model']}",
             f"synthetic N-MNIST ({r['sensor'][0]}x{r['sensor'][1]}): trained {r['epochs']} + 3 epochs on "
             f"{r['train_samples']} samples, tested on {n}; {r['events_per_sample']:.0f} events per sample",
             f"input: events stabilised, polarities merged, binned into {r['steps']} steps of {r['dt_us'] / 1000:g} ms "
             f"and fed as spikes ({r['input_spikes_per_sample']:.0f} per sample); the ANN saw their mean per step",
             f"ANN accuracy {100 * r['ann_accuracy']:.1f} %",
             "",
             f"{'steps T':<28}" + "".join(f"{t:>10}" for t in ts),
             f"{'SNN accuracy %':<28}" + "".join(f"{100 * r['snn_accuracy'][t]:>10.1f}" for t in ts),
             "",
             f"per sample (T = {r['steps']}): {r['spikes_per_sample']:.3g} spikes (input included), "
             f"{r['synaptic_events_per_sample']:.3g} synaptic events; dense SNN {r['dense_macs_per_sample']:.3g} MACs, "
             f"ANN {r['ann_macs_per_sample']:.3g} MACs",
             f"{'J / sample':<20}{'SNN':>12}{'SNN compute':>14}{'dense SNN':>12}{'ANN':>12}"]
    fmt = lambda v: f"{v:>12.3g}" if v is not None else f"{'-':>12}"  # noqa: E731
    for name, e in r["energy"].items():
        lines.append(f"{name:<20}{fmt(e['snn_j_per_sample'])}{e['snn_compute_only_j_per_sample']:>14.3g}"
                     f"{fmt(e['dense_snn_j_per_sample'])}{fmt(e['ann_j_per_sample'])}")
    lines += ["", f"time / sample: event-driven SNN {1e3 * r['event_s_per_sample']:.2f} ms, ANN (torch, batch {n}) "
              f"{1e3 * r['ann_s_per_sample']:.3f} ms; dataset {r['dataset_s']:.0f} s, training {r['train_s']:.0f} s"]
    real = r["recording"]
    if real is None:
        lines.append("real N-MNIST recording: not found (../shared/data/events/sample_nmnist.bin)")
    else:
        scores = " ".join(f"{s:.1f}" for s in real["snn_scores"])
        lines.append(f"real N-MNIST recording ({real['events']} events, {real['events_in_window']} fed as spikes; "
                     f"label unknown): SNN says {real['snn_prediction']}, ANN says {real['ann_prediction']}; "
                     f"SNN scores 0-9: {scores}")
    return "\n".join(lines)


def main(args) -> None:
    began = time.perf_counter()
    result = demo(data=args.data, epochs=args.epochs, recording=args.recording or RECORDING)
    result["total_s"] = time.perf_counter() - began
    print(format_table(result))
    print(f"total {result['total_s']:.0f} s")
    if args.json:
        write_json(args.json, result)

