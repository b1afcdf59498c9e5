"""The event-camera demo: a convolutional SNN trained on synthetic N-MNIST, run from camera events.

Trains the ANN on event-count frames, converts it, scores the SNN fed with the events as spikes on the
synthetic test split, prices it in energy and classifies the real N-MNIST recording (``spiking.vision``).

    python examples/nmnist_vision.py [--data DIR] [--epochs 12] [--recording FILE.bin] [--json out.json]
"""
import sys

from spiking.cli import main

if __name__ == "__main__":
    main(["vision", *sys.argv[1:]])
