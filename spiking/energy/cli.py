"""``spiking energy NET.h5 INPUT.npy``: run a saved network on an input and print its energy report."""
from __future__ import annotations

import argparse

KINDS = ("spikes", "currents", "rates")


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``energy`` subcommand to the ``spiking`` command's subparsers."""
    p = subparsers.add_parser("energy", help="price a saved network's run on named hardware",
                              description="Run a saved network on an input and print its energy report.")
    p.add_argument("net", help="network saved with spiking.save (HDF5)")
    p.add_argument("input", help=".npy input: spikes [T, B, ...], currents [B, ...] or rates in [0, 1] [B, ...]")
    p.add_argument("--kind", choices=KINDS, default="spikes", help="what the input array holds (default spikes)")
    p.add_argument("--steps", type=int, help="steps to run (required for currents and rates)")
    p.add_argument("--profile", default="horowitz45-fp32",
                   help="built-in profile name (e.g. loihi, truenorth, int8) or a .toml file (default horowitz45-fp32)")
    p.add_argument("--reuse", choices=("none", "full"), default="none",
                   help="weight reuse assumed for the dense equivalents (default none)")
    p.add_argument("--seed", type=int, default=0, help="seed of the Poisson encoder for --kind rates")
    p.add_argument("--measure", action="store_true", help="also measure the run with NVML or RAPL where readable")
    p.add_argument("--json", help="write the report to this JSON file")
    p.add_argument("--plot", help="write the energy-against-activity plot to this PNG or PDF file")
    return p


def _stimulus(kind: str, array, steps, seed: int):
    from ..errors import ValidationError
    from ..runtime import currents, poisson, spikes

    if kind == "spikes":
        return spikes(array)
    if steps is None:
        raise ValidationError(f"--steps is required for --kind {kind}")
    return currents(array) if kind == "currents" else poisson(array, steps, seed=seed)


def main(args) -> None:
    """Handle ``spiking energy``: load, run (optionally metered), price, print."""
    import numpy as np

    from ..errors import FormatError
    from ..network import load
    from ..runtime import run
    from .meters import measure
    from .neurobench import pooled_sources
    from .pricing import price
    from .profiles import profile

    prof = profile(args.profile)
    net = load(args.net)
    try:
        array = np.load(args.input, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise FormatError(f"{args.input}: not a readable .npy array: {e}") from None
    stim = _stimulus(args.kind, array, args.steps, args.seed)
    record = [n for n in pooled_sources(net) if not net.populations[n].is_input]
    measured = None
    if args.measure:
        with measure() as meter:
            result = run(net, stim, args.steps, record=record)
        measured = meter.result
    else:
        result = run(net, stim, args.steps, record=record)
    report = price(result, net, prof, reuse=args.reuse, stimulus=stim, measured=measured)
    print(report.table())
    if args.json:
        report.to_json(args.json)
    if args.plot:
        report.plot(args.plot)
