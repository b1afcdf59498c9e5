"""Transform benchmark: ``spiking.datasets.transforms`` against Tonic's on a DVS-Gesture-sized stream.

The stream (400,000 events on a 128 x 128 sensor over 6 s, as a DVS Gesture recording) is
synthesised from a seed: a hand-sized blob circling the sensor and uniform background activity.
Each transform runs on the same events, ours on an ``EVENT_DTYPE`` array (checked first, inside
the timing), Tonic's on its own ``events_struct`` array, interleaved, best of warm repeats.
Each row also says whether the outputs are identical (``n_time_bins`` differs by design: Tonic
loses the last event, see ``spiking.datasets.transforms``).

Two memory floors are timed the same way, each in rounds with the Tonic transform it bounds: a
copy of the events' bytes into a new array (what any flip, crop or downsample must at least do),
and new zeroed frames for the 10 ms windows with every page touched (what ``ToFrame`` must at least
do). Tonic's time over a floor is the most that any implementation could gain on this machine.

    python -m spiking.bench.transforms [--events N] [--budget S] [--markdown] [--json PATH]
"""
from __future__ import annotations

import argparse

import numpy as np

from ..datasets import transforms as ours
from ..datasets.events import EVENT_DTYPE
from .timing import best_times
from ..files import write_json

SENSOR = (128, 128, 2)
TONIC_DTYPE = np.dtype([("x", "<i2"), ("y", "<i2"), ("t", "<i8"), ("p", "?")])


def gesture_stream(n: int = 400_000, seconds: float = 6.0, t_start: int = 1_000_000, seed: int = 0) -> np.ndarray:
    """``n`` events in time order: 80 % from a blob (sd 8 px) circling the centre once a second, 20 % uniform."""
    rng = np.random.default_rng(seed)
    t = np.sort(rng.integers(t_start, t_start + int(seconds * 1e6), n))
    phase = 2 * np.pi * (t - t_start) / 1e6
    blob = rng.random(n) < 0.8
    x = np.where(blob, 64 + 30 * np.cos(phase) + rng.normal(0, 8, n), rng.uniform(0, 128, n))
    y = np.where(blob, 64 + 30 * np.sin(phase) + rng.normal(0, 8, n), rng.uniform(0, 128, n))
    events = np.empty(n, EVENT_DTYPE)
    events["x"] = np.clip(x, 0, 127)
    events["y"] = np.clip(y, 0, 127)
    events["t"] = t
    events["p"] = rng.random(n) < 0.5
    return events


def _cases():
    """(name, ours, Tonic's) for each transform, both called on their own copy of the stream."""
    import tonic.transforms as T

    size = SENSOR
    frames = [("ToFrame time_window=10 ms", dict(time_window=10_000)),
              ("ToFrame event_count=4000", dict(event_count=4000)),
              ("ToFrame n_time_bins=20", dict(n_time_bins=20)),
              ("ToFrame n_event_bins=20", dict(n_event_bins=20)),
              ("ToFrame time_window=50 ms, overlap 25 ms", dict(time_window=50_000, overlap=25_000))]
    cases = [(name, lambda e, kw=kw: ours.to_frames(e, size, **kw), T.ToFrame(size, **kw)) for name, kw in frames]
    cases += [
        ("Denoise 10 ms", lambda e: ours.denoise(e, size, 10_000), T.Denoise(10_000)),
        ("RefractoryPeriod 1 ms", lambda e: ours.refractory_filter(e, size, 1000), T.RefractoryPeriod(1000)),
        ("Downsample to 32x32", lambda e: ours.downsample(e, size, (32, 32)),
         T.Downsample(sensor_size=size, target_size=(32, 32))),
        ("CenterCrop 64x64", lambda e: ours.center_crop(e, size, 64), T.CenterCrop(size, (64, 64))),
        ("FlipLR", lambda e: ours.flip_lr(e, size), T.RandomFlipLR(size, p=1.0)),
        ("FlipUD", lambda e: ours.flip_ud(e, size), T.RandomFlipUD(size, p=1.0)),
        ("FlipPolarity", lambda e: ours.flip_polarity(e, size), T.RandomFlipPolarity(p=1.0)),
    ]
    return cases


def _identical(a, b) -> bool:
    if a.dtype.names is None:
        return a.shape == b.shape and bool(np.array_equal(a, b))
    return len(a) == len(b) and all(np.array_equal(a[f].astype(np.int64), b[f].astype(np.int64)) for f in "xytp")


def _floors(events, size):
    """(name, floor, bounded row, Tonic's transform of that row) for the memory work no implementation avoids."""
    import tonic.transforms as T

    raw = events.view(np.uint8)
    frames = ours.to_frames(events, size, time_window=10_000).shape
    page = 4096 // np.dtype(np.int16).itemsize

    def new_frames():
        np.zeros(frames, np.int16).reshape(-1)[::page] = 1

    return [("copy of the events' bytes", raw.copy, "FlipLR", T.RandomFlipLR(size, p=1.0)),
            ("new zeroed frames, every page touched", new_frames, "ToFrame time_window=10 ms",
             T.ToFrame(size, time_window=10_000))]


def bench_transforms(n: int = 400_000, budget_s: float = 2.0, seed: int = 0) -> dict:
    """One row per transform: best wall time of ours and of Tonic's, their ratio, and output identity;
    then the memory floors, each against the Tonic transform it bounds."""
    import tonic

    events = gesture_stream(n, seed=seed)
    theirs = np.empty(n, TONIC_DTYPE)
    for f in "xytp":
        theirs[f] = events[f]
    rows = []
    for name, fn, peer in _cases():
        same = _identical(fn(events), peer(theirs.copy()))
        ours_s, tonic_s = best_times([lambda: fn(events), lambda: peer(theirs)], min_repeats=3, budget_s=budget_s)
        rows.append(dict(transform=name, ours_s=ours_s, tonic_s=tonic_s, speedup=tonic_s / ours_s, identical=same))
    floors = []
    for name, floor, row, peer in _floors(events, SENSOR):
        floor_s, tonic_s = best_times([floor, lambda: peer(theirs)], min_repeats=3, budget_s=budget_s)
        floors.append(dict(floor=name, floor_s=floor_s, transform=row, tonic_s=tonic_s, most_speedup=tonic_s / floor_s))
    return {"events": n, "sensor": list(SENSOR), "tonic": tonic.__version__, "rows": rows, "floors": floors}


def _table(head, body, markdown: bool) -> list[str]:
    if markdown:
        return (["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
                + ["| " + " | ".join(row) + " |" for row in body])
    widths = [max(len(str(c)) for c in col) for col in zip(head, *body)]
    return ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
            for row in (head, *body)]


def format_report(report: dict, markdown: bool = False) -> str:
    rows = [(r["transform"], f"{r['ours_s'] * 1e3:.2f}", f"{r['tonic_s'] * 1e3:.2f}", f"{r['speedup']:.1f}",
             "yes" if r["identical"] else "no") for r in report["rows"]]
    floors = [(f["floor"], f["transform"], f"{f['floor_s'] * 1e3:.2f}", f"{f['tonic_s'] * 1e3:.2f}",
               f"{f['most_speedup']:.1f}") for f in report["floors"]]
    lines = [] if markdown else [f"{report['events']} events, {report['sensor'][0]}x{report['sensor'][1]}, "
                                 f"Tonic {report['tonic']}"]
    lines += _table(("transform", "ours ms", "Tonic ms", "Tonic / ours", "identical"), rows, markdown)
    lines += ["", "memory floors: the least work of any implementation of the row, and Tonic's time over it"]
    lines += _table(("floor", "row", "floor ms", "Tonic ms", "Tonic / floor"), floors, markdown)
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--events", type=int, default=400_000, help="events in the synthetic stream")
    parser.add_argument("--budget", type=float, default=2.0, help="seconds of interleaved repeats per row")
    parser.add_argument("--markdown", action="store_true", help="print the rows as a Markdown table")
    parser.add_argument("--json", help="write the rows to this JSON file")


def main(args) -> None:
    report = bench_transforms(args.events, args.budget)
    print(format_report(report, args.markdown))
    if args.json:
        write_json(args.json, report)


if __name__ == "__main__":
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(cli)
    main(cli.parse_args())
