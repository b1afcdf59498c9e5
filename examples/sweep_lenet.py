"""The energy-versus-sparsity sweep of the LeNet-like CNN on the MNIST subset.

Weight sparsity 0, 50, 80 and 90 % (magnitude pruning of every layer to the target, fine-tuned
over three steps), float32, 8- and 4-bit weights, three normalization percentiles (the activity
knob: 100 is max-normalization, the fewest spikes), T = 16 and 32: 72 points on a local
Dask cluster of two single-thread workers. Writes the results (CSV, resumable: run it again after an
interruption and it computes only the missing points) and the figures, prints a table, and checks
that at 90 % weight sparsity the event-driven time falls in proportion to the synaptic events.

    python examples/sweep_lenet.py --results sweep_lenet.csv --plots docs --json sweep_lenet.json

The quiet-machine estimate is the CPU time the workers spent divided by the number of workers: the
wall time of the same work on an otherwise idle machine, if the two workers keep busy throughout.
"""
from __future__ import annotations

import argparse
import resource
import time

import numpy as np

from spiking.sweep import Grid, dask_client, settings_for, sweep
from spiking.sweep.plots import plot_all
from spiking.files import write_json

GRID = Grid(sparsities=(0.0, 0.5, 0.8, 0.9), bits=(32, 8, 4),
            activities=("percentile=99", "percentile=99.9", "percentile=100"), steps=(16, 32))
SETTINGS = dict(scope="layer")  # global pruning would leave the first convolution mostly dense
PROFILE = "horowitz45-fp32"


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def proportionality(rows, low: float = 0.0, high: float = 0.9) -> list[dict]:
    """For each bits, activity and T: synaptic events and event-driven time at ``high`` weight
    sparsity over those at ``low``, and the ratio of the two falls (1: exactly in proportion)."""
    out = []
    for r in rows:
        if r["sparsity"] != low:
            continue
        twin = next(q for q in rows if q["sparsity"] == high and all(
            q[k] == r[k] for k in ("bits", "knob", "level", "steps")))
        events, seconds = twin["synaptic_events"] / r["synaptic_events"], twin["event_s"] / r["event_s"]
        out.append(dict(bits=r["bits"], level=r["level"], steps=r["steps"], events=events, time=seconds,
                        time_over_events=seconds / events))
    return out


def table(rows) -> str:
    lines = [f"{'sparsity':>8}{'bits':>6}{'pct':>7}{'T':>4}{'acc %':>7}{'ANN %':>7}{'events':>10}{'activity':>9}"
             f"{'J (' + PROFILE + ')':>24}{'event ms':>10}{'dense ms':>10}"]
    for r in rows:
        lines.append(f"{r['sparsity']:>8g}{r['bits']:>6}{r['level']:>7g}{r['steps']:>4}{100 * r['accuracy']:>7.1f}"
                     f"{100 * r['ann_accuracy']:>7.1f}{r['synaptic_events']:>10.3g}{r['activity']:>9.3f}"
                     f"{r[PROFILE + ':total_j']:>24.3g}{1e3 * r['event_s']:>10.2f}{1e3 * r['dense_s']:>10.2f}")
    return "\n".join(lines)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default="sweep_lenet.csv", help="results file (resumed if it exists)")
    parser.add_argument("--plots", default="sweep_lenet_figures", help="folder of the figures")
    parser.add_argument("--json", help="also write the summary to this JSON file")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--scheduler", help="a Dask scheduler address instead of the local cluster")
    args = parser.parse_args(argv)

    began = time.perf_counter()
    with dask_client(args.scheduler, args.workers) as client:
        rows = sweep(args.results, GRID, settings_for(**SETTINGS), client=client)
        worker_cpu = sum(client.run(_cpu_seconds).values())
    wall = time.perf_counter() - began
    figures = [str(p) for p in plot_all(rows, args.plots, PROFILE)]

    print(table(rows))
    checks = proportionality(rows)
    print("\n90 % against 0 % weight sparsity: synaptic events, event-driven time, and their ratio")
    for c in checks:
        print(f"  {c['bits']:>2} bit, percentile {c['level']:g}, T={c['steps']}: events x{c['events']:.3f}, "
              f"time x{c['time']:.3f}, time/events {c['time_over_events']:.2f}")
    median = float(np.median([c["time_over_events"] for c in checks]))
    print(f"median time/events {median:.2f} (within 20 % of 1: {abs(median - 1) <= 0.2})")
    print(f"wall {wall:.0f} s; worker CPU {worker_cpu:.0f} s, so about {worker_cpu / args.workers:.0f} s on "
          f"{args.workers} idle cores")
    summary = dict(points=len(rows), wall_s=wall, worker_cpu_s=worker_cpu,
                   quiet_estimate_s=worker_cpu / args.workers, proportionality=checks,
                   median_time_over_events=median, figures=figures)
    if args.json:
        write_json(args.json, summary)
    return summary


if __name__ == "__main__":
    main()
