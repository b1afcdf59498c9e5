"""``spiking sweep RESULTS.csv``: a grid of weight sparsity x bits x activity x timesteps, on Dask."""
from __future__ import annotations

import argparse

from .run import DEFAULTS


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``sweep`` subcommand to the ``spiking`` command's subparsers."""
    p = subparsers.add_parser(
        "sweep", help="accuracy, events, energy and time over weight sparsity, bits, activity and timesteps",
        description="Train, prune, convert, quantize and run the model at every point of the grid; each finished "
                    "point is written to RESULTS at once, and a restart with the same arguments computes only the "
                    "missing points.")
    p.add_argument("results", help="CSV file of the results (created, or resumed if it exists)")
    p.add_argument("--sparsity", nargs="+", type=float, default=[0.0], help="fractions of weights pruned (default 0)")
    p.add_argument("--bits", nargs="+", type=int, default=[32], help="weight bits, 32 for float (default 32)")
    p.add_argument("--activity", nargs="+", default=["percentile=99.9"],
                   help="activity settings KNOB=VALUE: percentile=P (conversion) or penalty=W (training regularizer)")
    p.add_argument("--steps", nargs="+", type=int, default=[32], help="timesteps T (default 32)")
    p.add_argument("--model", default=DEFAULTS["model"], help="model (default lenet)")
    p.add_argument("--dataset", default=DEFAULTS["dataset"], help="dataset (default mnist-subset)")
    for name in ("epochs", "finetune_epochs", "prune_steps", "calibration", "time_images", "repeats", "batch_size",
                 "seed"):
        p.add_argument(f"--{name.replace('_', '-')}", type=int, default=DEFAULTS[name],
                       help=f"default {DEFAULTS[name]}")
    for name in ("train_images", "test_images"):
        p.add_argument(f"--{name.replace('_', '-')}", type=int, default=None, help="default: all")
    p.add_argument("--percentile", type=float, default=DEFAULTS["percentile"],
                   help="normalization percentile where the activity knob is not the percentile (default 99.9)")
    p.add_argument("--scope", choices=("global", "layer"), default=DEFAULTS["scope"], help="pruning scope")
    p.add_argument("--per-channel", action="store_true", help="one quantization scale per output channel")
    p.add_argument("--profiles", nargs="+", default=list(DEFAULTS["profiles"]), help="energy profiles to price on")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--scheduler", help="address of a Dask scheduler (default: a local cluster)")
    where.add_argument("--serial", action="store_true", help="run the points in this process, without Dask")
    p.add_argument("--workers", type=int, default=2, help="processes of the local cluster, one thread each (default 2)")
    p.add_argument("--plots", help="folder to write the figures to (PNG and PDF)")
    p.add_argument("--plot-profile", default="horowitz45-fp32", help="profile of the energy figures")
    return p


def main(args) -> None:
    """Handle ``spiking sweep``: run the grid, then draw the figures if asked."""
    import contextlib

    from ..errors import ValidationError
    from .grid import Grid
    from .plots import plot_all
    from .run import dask_client, settings_for, sweep

    grid = Grid(args.sparsity, args.bits, args.activity, args.steps)
    settings = settings_for(**{name: getattr(args, name) for name in DEFAULTS})
    if args.plots and args.plot_profile not in settings["profiles"]:
        raise ValidationError(f"--plot-profile {args.plot_profile!r} is not among --profiles {settings['profiles']}")
    cluster = contextlib.nullcontext() if args.serial else dask_client(args.scheduler, args.workers)
    with cluster as client:
        rows = sweep(args.results, grid, settings, client=client)
    print(f"{len(rows)} points in {args.results}")
    if args.plots:
        for path in plot_all(rows, args.plots, args.plot_profile):
            print(f"wrote {path}")
