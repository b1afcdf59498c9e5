"""The ``spiking`` command: ``demo``, ``vision``, ``energy``, ``sweep`` and ``bench`` (runtime, decoders, transforms)."""
from __future__ import annotations

import argparse

from .bench.decoders import add_arguments as add_decoder_arguments
from .bench.transforms import add_arguments as add_transform_arguments
from .energy.cli import add_parser as add_energy
from .sweep.cli import add_parser as add_sweep


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="spiking", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="train the LeNet-like CNN on MNIST, convert it and run it event-driven")
    demo.add_argument("--json", help="also write the figures to this JSON file")
    vision = sub.add_parser("vision", help="the event-camera demo: a convolutional SNN trained on synthetic N-MNIST, "
                                           "fed camera events")
    vision.add_argument("--json", help="also write the figures to this JSON file")
    vision.add_argument("--data", help="folder of the synthetic N-MNIST splits, made there once "
                                       "(default $XDG_CACHE_HOME/spiking or ~/.cache/spiking)")
    vision.add_argument("--epochs", type=int, default=12, help="training epochs at lr 1e-3 (3 more at 1e-4 follow)")
    vision.add_argument("--recording", help="a real N-MNIST .bin recording to classify "
                                            "(default ../shared/data/events/sample_nmnist.bin)")
    add_energy(sub)
    add_sweep(sub)
    bench = sub.add_parser("bench", help="side-by-side benchmarks")
    which = bench.add_subparsers(dest="bench", required=True)
    rt = which.add_parser("runtime", help="event-driven vs dense reference vs snnTorch over activity")
    rt.add_argument("--json", help="write rows and fits to this JSON file")
    rt.add_argument("--models", nargs="+", default=["mlp", "lenet"], choices=["mlp", "lenet"])
    rt.add_argument("--batches", nargs="+", type=int, default=[1, 64])
    rt.add_argument("--densities", nargs="+", type=float, default=None)
    rt.add_argument("--steps", type=int, default=32)
    rt.add_argument("--markdown", action="store_true", help="print the rows as a Markdown table")
    rt.add_argument("--budget", type=float, default=2.0, help="seconds of interleaved repeats per row (best kept)")
    rt.add_argument("--full-precision", action="store_true",
                    help="float32 weights off any grid (the default weights are multiples of 2^-14, which "
                         "the event kernel stores as int8 codes)")
    add_decoder_arguments(which.add_parser("decoders", help="event-file decoders vs faery, aedat and Tonic"))
    add_transform_arguments(which.add_parser("transforms", help="event transforms vs Tonic's"))
    return parser


def main(argv=None) -> None:
    args = _parser().parse_args(argv)
    if args.command == "demo":
        from .demo import main as demo_main
        demo_main(args)
    elif args.command == "vision":
        from .vision import main as vision_main
        vision_main(args)
    elif args.command == "energy":
        from .energy.cli import main as energy_main
        energy_main(args)
    elif args.command == "sweep":
        from .sweep.cli import main as sweep_main
        sweep_main(args)
    elif args.command == "bench" and args.bench == "decoders":
        from .bench import decoders
        decoders.main(args)
    elif args.command == "bench" and args.bench == "transforms":
        from .bench import transforms
        transforms.main(args)
    elif args.command == "bench":
        from .bench import runtime
        if args.densities is None:
            args.densities = list(runtime.DENSITIES)
        runtime.main(args)


if __name__ == "__main__":
    main()
