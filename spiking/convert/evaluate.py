"""Accuracy of a converted network at every prefix of one run, with per-layer rates and events."""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from ..counts import Counts
from ..errors import ValidationError
from ..runtime import compile_network, currents, run


@dataclass(frozen=True, eq=False)
class Evaluation:
    """``accuracy[T]``: accuracy reading the output after ``T`` steps (one run of ``max(T)`` steps);
    ``synaptic_events[T]`` and ``effective_macs[T]``: per image over the first ``T`` steps;
    ``rates``: spikes per neuron per step of each layer over the whole run; ``seconds_per_image``:
    wall time of the runs (the network and the kernels compiled beforehand); ``counts``: the whole run's ledger.
    """

    accuracy: dict
    synaptic_events: dict
    effective_macs: dict
    rates: dict
    seconds_per_image: float
    images: int
    counts: Counts
    predictions: np.ndarray


def _readout_scores(result, readout: str) -> np.ndarray:
    """Scores after every step ``[T, B, classes]``."""
    if readout == "membrane":
        return result.membrane_trace
    return np.cumsum(result.recorded["output"], axis=0, dtype=np.int64)


def evaluate(converted, images, labels, steps=(8, 16, 32, 64), batch_size: int = 100, backend: str = "event",
             progress: bool = False, encode=None) -> Evaluation:
    """Run ``converted`` on ``images`` for ``max(steps)`` steps and score the prefixes ``steps``.

    ``encode``: turns a slice of ``images`` into the ``Stimulus`` of its batch; by default ``currents``
    (analog input held at every step). Inputs of another kind (a list of camera event arrays, say)
    come with their own, such as ``events_to_stimulus`` over ``max(steps)`` steps.
    Ties in the output (no spikes yet, with a spike-count readout) go to the lowest class, as argmax does.
    """
    if encode is None:
        images, encode = np.asarray(images, np.float32), currents
    labels = np.asarray(labels)
    checkpoints = sorted({int(t) for t in ([steps] if np.isscalar(steps) else steps)})
    if not checkpoints or checkpoints[0] < 1:
        raise ValidationError(f"steps must be positive, got {steps}")
    if len(images) != len(labels) or len(images) == 0:
        raise ValidationError(f"{len(images)} images and {len(labels)} labels: expected the same positive number")
    total = checkpoints[-1]
    net, readout = converted.network, converted.readout
    if backend == "event":
        plan = compile_network(net)
    else:
        from ..runtime.dense import DenseReference

        plan = DenseReference(net)
    record = ("output",) if readout == "spikes" else ()
    warm = encode(images[:1])  # one sample, untimed: compiles the kernels
    run(net, warm, 1 if warm.constant else None, backend=backend, record=record, plan=plan)
    correct = np.zeros(len(checkpoints), np.int64)
    predictions, parts, seconds = [], [], 0.0
    bar = tqdm(total=len(images), desc=f"SNN ({backend}, T={total})", unit="img", disable=not progress, leave=False)
    for lo in range(0, len(images), batch_size):
        x, y = images[lo:lo + batch_size], labels[lo:lo + batch_size]
        stim = encode(x)
        began = time.perf_counter()
        result = run(net, stim, total, backend=backend, record=record, record_membrane=readout == "membrane",
                     plan=plan)
        seconds += time.perf_counter() - began
        scores = _readout_scores(result, readout)
        guesses = scores[[t - 1 for t in checkpoints]].argmax(axis=-1)
        correct += (guesses == y[None]).sum(axis=1)
        predictions.append(guesses.T)
        parts.append(result.counts)
        bar.update(len(x))
    bar.close()
    counts = Counts.combine(parts)
    n = len(images)
    per_step = {key: getattr(counts, key).sum(axis=1).cumsum() for key in ("synaptic_events", "effective_macs")}
    sizes = {p.name: p.size for p in net.order}
    spikes = counts.totals()["spikes"]
    rates = {name: spikes[name] / (sizes[name] * total * n) for name in converted.layers}
    return Evaluation(
        accuracy={t: float(c) / n for t, c in zip(checkpoints, correct)},
        synaptic_events={t: float(per_step["synaptic_events"][t - 1]) / n for t in checkpoints},
        effective_macs={t: float(per_step["effective_macs"][t - 1]) / n for t in checkpoints},
        rates=rates, seconds_per_image=seconds / n, images=n, counts=counts,
        predictions=np.concatenate(predictions))
