"""Convert two harder models on the MNIST subset and report accuracy against the number of steps.

- ``resnet``: a graph model with BatchNorm, a residual block (functional ReLU after the add) and
  max pooling, which converts to count-gated max pooling;
- ``qcfs``: the LeNet-like CNN trained with the QCFS activation (8 levels), which converts
  accurately in few steps.

    python examples/convert_models.py [--models resnet qcfs] [--epochs 5] [--json out.json]
"""
from __future__ import annotations

import argparse
import functools

import torch
import torch.nn.functional as F
from torch import nn

from spiking.bench.train import accuracy, images_to_tensor, lenet_ann, train_classifier
from spiking.convert import QCFS, convert, evaluate
from spiking.datasets import mnist_subset
from spiking.files import write_json

STEPS = (4, 8, 16, 32, 64)


class SmallResNet(nn.Module):
    """conv-BN-ReLU, max pool, one residual block of two conv-BN, max pool, Linear."""

    def __init__(self, width: int = 16):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU())
        self.conv1 = nn.Conv2d(width, width, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(width * 7 * 7, 10)

    def forward(self, x):
        x = self.pool(self.stem(x))
        y = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(y)) + x)
        return self.fc(torch.flatten(self.pool(x), 1))


MODELS = {"resnet": SmallResNet, "qcfs": lambda: lenet_ann(functools.partial(QCFS, levels=8, ceiling=8.0))}


def run(name: str, epochs: int, seed: int = 0) -> dict:
    digits = mnist_subset()
    x, xt = images_to_tensor(digits.train_images), images_to_tensor(digits.test_images)
    torch.manual_seed(seed)
    model = train_classifier(MODELS[name](), x, digits.train_labels, epochs=epochs, seed=seed, progress=True)
    ann = accuracy(model, xt, digits.test_labels)
    calib = x[torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:1000]]
    converted = convert(model, calib)
    ev = evaluate(converted, xt.numpy(), digits.test_labels, STEPS, progress=True)
    return dict(model=name, epochs=epochs, ann_accuracy=ann, snn_accuracy=ev.accuracy,
                synaptic_events_per_image=ev.synaptic_events, event_s_per_image=ev.seconds_per_image,
                layers={layer: converted.sources[layer] for layer in converted.layers})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--json", help="write the results to this file")
    args = parser.parse_args()
    results = [run(name, args.epochs) for name in args.models]
    print(f"{'model':<10}{'ANN %':>8}" + "".join(f"{'T=' + str(t):>9}" for t in STEPS) + f"{'events/img T=64':>18}")
    for r in results:
        print(f"{r['model']:<10}{100 * r['ann_accuracy']:>8.1f}"
              + "".join(f"{100 * r['snn_accuracy'][t]:>9.1f}" for t in STEPS)
              + f"{r['synaptic_events_per_image'][64]:>18.3g}")
    if args.json:
        write_json(args.json, results)


if __name__ == "__main__":
    main()
