"""Runtime benchmark: event-driven against the dense torch reference and snnTorch, over input activity.

For each model (MLP, LeNet-like CNN), batch size and input spike density, the same spike input is
run by the event-driven kernel, the dense reference and snnTorch, in this process, best of repeats.
Each is prepared once outside the timing: the compiled plan, the dense reference's torch tensors,
the snnTorch module.
Activity is measured as synaptic events divided by dense MACs, so pooling (which multiplies events
per spike) shows up honestly.
"""
from __future__ import annotations


import numpy as np
import torch
from tqdm import tqdm

from ..runtime import compile_network, run, spikes
from ..runtime.dense import DenseReference
from .models import BUILDERS, INPUT_SHAPES, run_snntorch, to_snntorch
from .timing import best_times, linear_fit
from ..files import write_json

DENSITIES = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)


def bench_runtime(models=("mlp", "lenet"), batches=(1, 64), densities=DENSITIES, steps: int = 32,
                  seed: int = 0, budget_s: float = 2.0, full_precision: bool = False) -> dict:
    """Rows of timings and counts, and per (model, batch) a fit of event time against synaptic events.

    The weights are multiples of 2^-14 (``spiking.bench.models``), or float32 off any grid with
    ``full_precision``."""
    rng = np.random.default_rng(seed)
    rows = []
    grid = [(m, b, d) for m in models for b in batches for d in densities]
    nets = {m: BUILDERS[m](seed, full_precision) for m in models}
    plans = {m: compile_network(nets[m]) for m in models}
    references = {m: DenseReference(nets[m]) for m in models}
    snn_models = {m: to_snntorch(nets[m]) for m in models}
    for model, batch, density in tqdm(grid, desc="bench runtime", unit="row"):
        frames = (rng.random((steps, batch) + INPUT_SHAPES[model]) < density).astype(np.uint8)
        stim = spikes(frames)
        net, plan = nets[model], plans[model]
        result = run(net, stim, plan=plan)
        x = torch.from_numpy(frames.astype(np.float32))
        snn_counts = run_snntorch(snn_models[model], x)
        event_s, dense_s, snntorch_s = best_times(
            [lambda: run(net, stim, plan=plan), lambda: run(net, stim, backend="dense", plan=references[model]),
             lambda: run_snntorch(snn_models[model], x)], min_repeats=5, budget_s=budget_s)
        counts = result.counts
        rows.append(dict(
            model=model, batch=batch, input_density=density, activity=counts.activity, timesteps=steps,
            event_s=event_s, dense_s=dense_s, snntorch_s=snntorch_s,
            synaptic_events=int(counts.synaptic_events.sum()), dense_macs=int(counts.dense_macs.sum()),
            output_spikes_equal_snntorch=bool(np.array_equal(snn_counts.numpy().astype(np.int64),
                                                             result.output_spikes)),
        ))
    fits = []
    for model in models:
        for batch in batches:
            sel = [r for r in rows if r["model"] == model and r["batch"] == batch]
            fit = linear_fit([r["synaptic_events"] for r in sel], [r["event_s"] for r in sel])
            fits.append(dict(model=model, batch=batch, ns_per_event=fit["slope"] * 1e9,
                             intercept_s=fit["intercept"], r2=fit["r2"]))
    return {"rows": rows, "fits": fits, "torch_threads": torch.get_num_threads(), "full_precision": full_precision}


def format_report(report: dict) -> str:
    lines = [f"{'model':<6}{'batch':>6}{'input':>7}{'activity':>9}{'events':>12}{'event ms':>10}{'dense ms':>10}"
             f"{'snnTorch ms':>12}{'dense/ev':>9}{'snnT/ev':>9}"]
    for r in report["rows"]:
        lines.append(f"{r['model']:<6}{r['batch']:>6}{r['input_density']:>7.2f}{r['activity']:>9.3f}"
                     f"{r['synaptic_events']:>12.3g}{r['event_s'] * 1e3:>10.2f}{r['dense_s'] * 1e3:>10.2f}"
                     f"{r['snntorch_s'] * 1e3:>12.2f}{r['dense_s'] / r['event_s']:>9.1f}"
                     f"{r['snntorch_s'] / r['event_s']:>9.1f}")
    lines.append("event time = intercept + slope x synaptic events:")
    for f in report["fits"]:
        lines.append(f"  {f['model']:<6} batch {f['batch']:>3}: {f['ns_per_event']:.3f} ns/event, "
                     f"intercept {f['intercept_s'] * 1e3:.2f} ms, R^2 {f['r2']:.4f}")
    return "\n".join(lines)


def format_markdown(report: dict) -> str:
    """The rows as a Markdown table, for the README."""
    lines = ["| model | batch | input density | activity | synaptic events | event ms | dense ms | snnTorch ms "
             "| dense / event | snnTorch / event |", "|" + "---|" * 10]
    for r in report["rows"]:
        lines.append(f"| {r['model']} | {r['batch']} | {r['input_density']:.2f} | {r['activity']:.3f} "
                     f"| {r['synaptic_events']:.3g} | {r['event_s'] * 1e3:.2f} | {r['dense_s'] * 1e3:.2f} "
                     f"| {r['snntorch_s'] * 1e3:.2f} | {r['dense_s'] / r['event_s']:.1f} "
                     f"| {r['snntorch_s'] / r['event_s']:.1f} |")
    return "\n".join(lines)


def main(args) -> None:
    report = bench_runtime(models=args.models, batches=args.batches, densities=args.densities,
                           steps=args.steps, budget_s=args.budget, full_precision=args.full_precision)
    print(format_markdown(report) if args.markdown else format_report(report))
    if args.json:
        write_json(args.json, report)
