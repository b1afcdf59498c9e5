"""Measured joules per inference of the dense ANN on a GPU, next to the modeled energy of its SNN.

The LeNet-like network of ``spiking.bench.models`` runs as a dense torch ANN (ReLU in place of the
IF neurons) on the GPU at batch 1 and 4,096; NVML's total-energy counter is read around windows of
at least ``--seconds`` of repeated inferences, the idle draw measured first and subtracted. The SNN
(the same weights, IF neurons, Poisson input over ``--steps`` steps) is run event-driven on the CPU
and priced on the neuromorphic and 45 nm profiles, with the ANN priced on the same profiles.

    python examples/energy_gpu.py [--seconds 5] [--steps 32] [--json out.json]

Needs an NVIDIA GPU (Volta or newer) and nvidia-ml-py; it exits with a message where there is none.
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from spiking.files import write_json

PROFILES = ("loihi2018", "keras-loihi", "spinnaker2", "truenorth2014", "horowitz45-fp32", "horowitz45-int8")


def dense_ann(net):
    """The network's weights as a torch ANN: ReLU where the SNN has IF neurons, same pools."""
    from torch import nn

    from spiking.bench.models import to_snntorch

    layers = [nn.ReLU() if type(m).__name__ == "Leaky" else m for m in to_snntorch(net)]
    return nn.Sequential(*layers)


def gpu_joules(model, batch: int, seconds: float) -> dict:
    import torch

    from spiking.energy import measure

    x = torch.rand((batch, 1, 28, 28), device="cuda")
    with torch.no_grad():
        for _ in range(10):
            model(x)
        torch.cuda.synchronize()
        t = time.perf_counter()
        for _ in range(10):
            model(x)
        torch.cuda.synchronize()
        reps = max(10, int(seconds / ((time.perf_counter() - t) / 10)))
        with measure(source="nvml", idle_seconds=2.0) as m:
            for _ in range(reps):
                model(x)
    r = m.result
    if not r.available:
        sys.exit(f"energy_gpu.py: {r.reason}")
    n = reps * batch
    return dict(batch=batch, inferences=n, seconds=r.seconds, joules_total=r.joules / n,
                joules_above_idle=r.active_joules / n, idle_watts=r.idle_watts, device=r.source)


def modeled(net, steps: int, batch: int = 16, seed: int = 0) -> list[dict]:
    import spiking as sp
    from spiking.energy import price

    rng = np.random.default_rng(seed)
    stim = sp.poisson(rng.random((batch, 1, 28, 28)) * 0.2, steps, seed=seed)
    result = sp.run(net, stim)
    rows = []
    for name in PROFILES:
        rep = price(result, net, name)
        rows.append(dict(profile=name, snn_joules=rep.total(), ann_joules=rep.total("ann"),
                         activity=rep.break_even["network"].activity,
                         break_even=rep.break_even["network"].break_even))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="minimum length of each measured window")
    parser.add_argument("--steps", type=int, default=32)
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args()
    try:
        import torch
    except ImportError:
        sys.exit("energy_gpu.py: needs torch with CUDA")
    if not torch.cuda.is_available():
        sys.exit("energy_gpu.py: no CUDA GPU here; this script measures NVML joules on an NVIDIA GPU "
                 "(use spiking.energy.price for modeled figures on a CPU)")
    from spiking.bench.models import lenet
    from spiking.energy.meters import open_counter
    from spiking.errors import SpikingError

    try:
        open_counter("nvml")
    except SpikingError as e:
        sys.exit(f"energy_gpu.py: {e}")
    net = lenet()
    model = dense_ann(net).cuda().eval()
    measured = [gpu_joules(model, b, args.seconds) for b in (1, 4096)]
    rows = modeled(net, args.steps)
    print(f"LeNet-like CNN, dense ANN measured with NVML on {measured[0]['device']}")
    print(f"{'batch':>6}{'J/inference (total)':>22}{'J/inference (above idle)':>27}{'idle W':>9}")
    for m in measured:
        print(f"{m['batch']:>6}{m['joules_total']:>22.4g}{m['joules_above_idle']:>27.4g}{m['idle_watts']:>9.1f}")
    print(f"\nmodeled, per inference ({args.steps} steps, Poisson input; ANN on the same profile)")
    print(f"{'profile':<18}{'SNN J':>12}{'ANN J':>12}{'activity':>10}{'break-even':>12}")
    for r in rows:
        ann = "-" if r["ann_joules"] is None else f"{r['ann_joules']:.4g}"
        be = "-" if r["break_even"] is None else f"{r['break_even']:.4g}"
        print(f"{r['profile']:<18}{r['snn_joules']:>12.4g}{ann:>12}{r['activity']:>10.4f}{be:>12}")
    if args.json:
        write_json(args.json, dict(measured=measured, modeled=rows))


if __name__ == "__main__":
    main()
