"""Accuracy of the converted LeNet-like CNN in float32 against its 8- and 4-bit fixed-point twins.

Measured on the MNIST subset's test images, at several run lengths.

The float network takes pixels / 255; its fixed-point twins (``spiking.compress.fixed_point`` with
``input_scale=255``) take the raw 8-bit pixels, so their whole run is integer arithmetic.
"""
from __future__ import annotations

import argparse
import dataclasses

import numpy as np

from ..compress import fixed_point
from ..convert import convert, evaluate
from .sparsity import trained_lenet
from ..files import write_json

STEPS = (16, 32)
VARIANTS = (("float32", None, False), ("8-bit fixed", 8, False), ("8-bit fixed, per channel", 8, True),
            ("4-bit fixed", 4, False), ("4-bit fixed, per channel", 4, True))


def bench_fixed_point(steps=STEPS, images: int = 1000, epochs: int = 8, seed: int = 0) -> dict:
    model, calib, _, (test_x, test_y) = trained_lenet(epochs, seed)
    x, y = test_x[:images], test_y[:images]
    converted = convert(model, calib)
    rows = []
    for name, bits, per_channel in VARIANTS:
        if bits is None:
            ev = evaluate(converted, x, y, steps)
        else:
            net = fixed_point(converted.network, bits, per_channel=per_channel, input_scale=255)
            ev = evaluate(dataclasses.replace(converted, network=net), np.round(x * 255), y, steps)
        rows.append(dict(variant=name, bits=bits, per_channel=per_channel,
                         accuracy={int(t): a for t, a in ev.accuracy.items()},
                         synaptic_events={int(t): e for t, e in ev.synaptic_events.items()}))
    return dict(images=images, epochs=epochs, steps=list(steps), rows=rows)


def format_table(r: dict) -> str:
    lines = [f"converted LeNet-like CNN, {r['images']} MNIST test images: accuracy %",
             f"{'':<28}" + "".join(f"{'T = ' + str(t):>10}" for t in r["steps"])]
    for row in r["rows"]:
        lines.append(f"{row['variant']:<28}" + "".join(f"{100 * row['accuracy'][t]:>10.1f}" for t in r["steps"]))
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1000, help="test images")
    parser.add_argument("--epochs", type=int, default=8, help="training epochs of the ANN")
    parser.add_argument("--json", help="write the results to this file")
    args = parser.parse_args(argv)
    result = bench_fixed_point(images=args.images, epochs=args.epochs)
    print(format_table(result))
    if args.json:
        write_json(args.json, result)


if __name__ == "__main__":
    main()
