"""Energy against activity on the LeNet-like CNN: one run per input density, priced on several profiles.

Prints per density the synaptic events, the modeled SNN energy per sample on each profile, its ANN
equivalent and the network's break-even activity, plus the fit of dynamic energy against synaptic
events (slope, R^2). ``python -m spiking.bench.energy [--json out.json] [--plot out.png]``.
"""
from __future__ import annotations

import argparse

import numpy as np

from ..energy import price
from ..runtime import compile_network, poisson, run
from .models import INPUT_SHAPES, lenet
from ..files import write_json

DENSITIES = (0.01, 0.02, 0.05, 0.1, 0.2)
PROFILES = ("horowitz45-fp32", "horowitz45-int8", "loihi2018", "truenorth2014")


def sweep(densities=DENSITIES, profiles=PROFILES, batch: int = 8, steps: int = 32, seed: int = 0) -> dict:
    net = lenet(seed)
    plan = compile_network(net)
    rows, reports = [], {}
    for k, d in enumerate(densities):
        result = run(net, poisson(np.full((batch,) + INPUT_SHAPES["lenet"], d), steps, seed=seed + k), plan=plan)
        row = dict(density=d, activity=result.counts.activity,
                   synaptic_events=int(result.counts.synaptic_events.sum()) / batch)
        for name in profiles:
            rep = price(result, net, name)
            reports[name] = rep
            row[name] = dict(snn=rep.total(), dynamic=rep.total() - rep.total("snn", "static"),
                             compute_only=rep.compute_only, ann=rep.total("ann"), dense_snn=rep.total("dense_snn"),
                             break_even=rep.break_even["network"].break_even)
        rows.append(row)
    fits = {}
    events = np.array([r["synaptic_events"] for r in rows])
    for name in profiles:
        energy = np.array([r[name]["dynamic"] for r in rows])
        slope, intercept = np.polyfit(events, energy, 1)
        resid = energy - (slope * events + intercept)
        fits[name] = dict(joules_per_event=slope, intercept=intercept,
                          r2=1 - (resid ** 2).sum() / ((energy - energy.mean()) ** 2).sum())
    return dict(batch=batch, steps=steps, rows=rows, fits=fits, last_reports=reports)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="write rows and fits to this JSON file")
    parser.add_argument("--plot", help="write the horowitz45-fp32 energy-against-activity plot of the last run here")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=32)
    args = parser.parse_args(argv)
    out = sweep(batch=args.batch, steps=args.steps)
    print(f"LeNet-like CNN, IF neurons, Poisson input, {args.steps} steps, {args.batch} samples; J per sample")
    print(f"{'density':>8}{'activity':>10}{'syn. events':>13}" + "".join(f"{p:>18}" for p in PROFILES)
          + f"{'ANN fp32':>12}{'ANN int8':>12}")
    for r in out["rows"]:
        print(f"{r['density']:>8}{r['activity']:>10.4f}{r['synaptic_events']:>13.0f}"
              + "".join(f"{r[p]['snn']:>18.4g}" for p in PROFILES)
              + f"{r['horowitz45-fp32']['ann']:>12.4g}{r['horowitz45-int8']['ann']:>12.4g}")
    print("\nfit of dynamic energy against synaptic events")
    for name, f in out["fits"].items():
        print(f"{name:<18} {f['joules_per_event']:.4g} J/event + {f['intercept']:.4g} J   R^2 = {f['r2']:.6f}")
    be = out["rows"][-1]
    print(f"\nbreak-even activity (network): fp32 {be['horowitz45-fp32']['break_even']:.4g}, "
          f"int8 {be['horowitz45-int8']['break_even']:.4g}")
    if args.plot:
        out["last_reports"]["horowitz45-fp32"].plot(args.plot)
    if args.json:
        write_json(args.json, {k: v for k, v in out.items() if k != "last_reports"})


if __name__ == "__main__":
    main()
