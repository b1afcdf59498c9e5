"""Decoder benchmark: our readers against faery (EVT 2.0, EVT 3.0, DAT), aedat (AEDAT 4) and Tonic (.bin).

Each file is decoded whole to an event array by both sides, in this process, best of warm repeats
taken in rounds (``timing.best_times``); the table gives events per second and our speed-up.
``--stream-memory`` writes a ~1 GB EVT 3.0 file of valid words (the sample's words repeated with its
TIME_HIGH advanced so time keeps rising and wraps), streams it in a child process, and reports the
child's peak resident memory (VmHWM) against a child that imports and decodes the small sample
(numba and its loaded kernels alone take about 200 MB). The file is deleted afterwards.

    python -m spiking.bench.decoders [--data ../shared/data/events] [--json out.json] [--stream-memory]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from ..datasets.formats.detect import read
from .timing import best_times
from ..files import write_json

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "events"
FILES = (("evt2_sample.raw", "faery"), ("evt3_sample.raw", "faery"), ("sample_ncars.dat", "faery"),
         ("sample.aedat4", "aedat"), ("sample_nmnist.bin", "tonic"))
_SIZES = {"evt2_sample.raw": (640, 480), "evt3_sample.raw": (1280, 720), "sample_ncars.dat": (304, 240)}


def _peer(name: str, path: Path):
    """A function decoding ``path`` whole with the independent package, or None if it is not installed."""
    try:
        if name.endswith(".raw"):
            from faery.extension import evt

            def run():
                with evt.Decoder(str(path), _SIZES[name], None) as decoder:
                    return np.concatenate([p["events"] for p in decoder if "events" in p])
        elif name.endswith(".dat"):
            from faery.extension import dat

            def run():
                with dat.Decoder(str(path), _SIZES[name], None) as decoder:
                    return np.concatenate(list(decoder))
        elif name.endswith(".aedat4"):
            import aedat

            def run():
                return np.concatenate([p["events"] for p in aedat.Decoder(str(path)) if "events" in p])
        else:
            import tonic.io
            dtype = np.dtype([("x", int), ("y", int), ("t", int), ("p", int)])

            def run():
                return tonic.io.read_mnist_file(str(path), dtype=dtype)
    except ImportError:
        return None
    return run


def bench_decoders(data: Path = DATA, budget_s: float = 2.0) -> list[dict]:
    """One row per file: events, our and the peer's best time, events/s, speed-up."""
    rows = []
    for name, peer_name in FILES:
        path = data / name
        peer = _peer(name, path)
        if not path.exists() or peer is None:
            continue
        n = len(read(path).events)
        ours_s, peer_s = best_times([lambda: read(path), peer], min_repeats=5, budget_s=budget_s)
        rows.append({"file": name, "events": n, "peer": peer_name, "ours_s": ours_s, "peer_s": peer_s,
                     "ours_mev_s": n / ours_s / 1e6, "peer_mev_s": n / peer_s / 1e6, "speedup": peer_s / ours_s})
    return rows


def format_rows(rows: list[dict]) -> str:
    lines = [f"{'file':<20}{'events':>10}{'peer':>7}{'ours ms':>10}{'peer ms':>10}{'ours Mev/s':>12}"
             f"{'peer Mev/s':>12}{'speed-up':>10}"]
    for r in rows:
        lines.append(f"{r['file']:<20}{r['events']:>10}{r['peer']:>7}{r['ours_s'] * 1e3:>10.2f}"
                     f"{r['peer_s'] * 1e3:>10.2f}{r['ours_mev_s']:>12.1f}{r['peer_mev_s']:>12.1f}{r['speedup']:>9.2f}x")
    return "\n".join(lines)


def write_big_evt3(source: Path, target: Path, size_bytes: int) -> int:
    """Write ~``size_bytes`` of EVT 3.0: ``source``'s header, then its words repeated, copy k with every
    TIME_HIGH advanced by 3 k (mod 4096, so the 24-bit time wraps as a camera's does). Returns copies."""
    raw = source.read_bytes()
    start = 0
    while raw[start:start + 1] == b"%":
        start = raw.index(b"\n", start) + 1
    words = np.frombuffer(raw[start:], "<u2")
    high = (words >> 12) == 0x8
    copies = max(1, size_bytes // words.nbytes)
    with open(target, "wb") as f:
        f.write(raw[:start])
        for k in range(copies):
            shifted = words.copy()
            shifted[high] = 0x8000 | ((words[high] & 0xFFF) + 3 * k) % 4096
            f.write(shifted.tobytes())
    return copies


_CHILD = """
import resource, sys, time
def peak_rss():
    # VmHWM is this process's own peak; ru_maxrss would include the parent's peak from before exec
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
from spiking.datasets.stream import stream
n = last = 0
t0 = time.perf_counter()
if sys.argv[3] == "run":
    for chunk in stream(sys.argv[1], chunk_events=int(sys.argv[2])):
        n += len(chunk)
        last = int(chunk["t"][-1])
else:  # the baseline: imports, and the kernels loaded by decoding the 600 KB sample
    from spiking.datasets.formats.detect import read
    n = len(read(sys.argv[4]).events)
print(n, last, time.perf_counter() - t0, peak_rss())
"""


def stream_memory(data: Path = DATA, size_bytes: int = 1 << 30, chunk_events: int = 1_000_000) -> dict:
    """Peak RSS of a child streaming a ~``size_bytes`` EVT 3.0 file, and of a child decoding the sample."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big_evt3.raw"
        copies = write_big_evt3(data / "evt3_sample.raw", path, size_bytes)
        file_bytes = path.stat().st_size
        out = {}
        for mode in ("open", "run"):
            result = subprocess.run([sys.executable, "-c", _CHILD, str(path), str(chunk_events), mode,
                                     str(data / "evt3_sample.raw")],
                                    check=True, capture_output=True, text=True, env={**os.environ})
            n, last, seconds, rss = result.stdout.split()
            out[mode] = {"events": int(n), "last_t": int(last), "seconds": float(seconds), "peak_rss": int(rss)}
    if out["run"]["events"] != copies * out["open"]["events"]:
        raise RuntimeError(f"streamed {out['run']['events']} events, expected {copies} x {out['open']['events']}")
    return {"file_bytes": file_bytes, "copies": copies, "chunk_events": chunk_events,
            "events": out["run"]["events"], "last_t_us": out["run"]["last_t"], "stream_s": out["run"]["seconds"],
            "peak_rss_mb": out["run"]["peak_rss"] / 2 ** 20, "baseline_rss_mb": out["open"]["peak_rss"] / 2 ** 20}


def main(args) -> None:
    report = {"decoders": bench_decoders(Path(args.data), args.budget)}
    print(format_rows(report["decoders"]))
    if args.stream_memory:
        mem = report["stream_memory"] = stream_memory(Path(args.data))
        print(f"\nstreamed {mem['file_bytes'] / 2 ** 30:.2f} GiB EVT 3.0 ({mem['events']:,} events, chunks of "
              f"{mem['chunk_events']:,}) in {mem['stream_s']:.1f} s: peak RSS {mem['peak_rss_mb']:.0f} MB "
              f"(a child that imports and decodes the 0.6 MB sample: {mem['baseline_rss_mb']:.0f} MB)")
    if args.json:
        write_json(args.json, report)


def add_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The benchmark's options, for its own parser and for ``spiking bench decoders``."""
    p.add_argument("--data", default=str(DATA), help="folder of the sample recordings")
    p.add_argument("--budget", type=float, default=2.0, help="seconds of repeats per file")
    p.add_argument("--stream-memory", action="store_true", help="stream a ~1 GB EVT 3.0 file and report peak RSS")
    p.add_argument("--json", help="write the results here")
    return p


def parser() -> argparse.ArgumentParser:
    return add_arguments(argparse.ArgumentParser(description=__doc__.split("\n")[0]))


if __name__ == "__main__":
    main(parser().parse_args())
