"""Training the ANNs that the conversion demo and benchmarks convert: seeded, on CPU, a few epochs."""
from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm


def lenet_ann(activation=nn.ReLU) -> nn.Sequential:
    """The ANN twin of ``bench.models.lenet``: two 5x5 convolutions with average pooling, two Linear layers."""
    return nn.Sequential(nn.Conv2d(1, 16, 5), activation(), nn.AvgPool2d(2), nn.Conv2d(16, 32, 5), activation(),
                         nn.AvgPool2d(2), nn.Flatten(), nn.Linear(512, 128), activation(), nn.Linear(128, 10))


def images_to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 images ``[N, H, W]`` as float ``[N, 1, H, W]`` in [0, 1]."""
    return torch.from_numpy(np.asarray(images, np.float32) / 255.0).unsqueeze(1)


def train_classifier(model: nn.Module, images: torch.Tensor, labels, epochs: int = 15, lr: float = 1e-3,
                     batch_size: int = 64, seed: int = 0, progress: bool = False, penalty=None) -> nn.Module:
    """Adam on cross-entropy, minibatches in a seeded shuffled order; returns the model in eval mode.

    ``penalty``: a callable returning a term to add to each minibatch's loss after its forward pass,
    such as ``spiking.compress.activity_penalty(model, weight)``.
    """
    torch.manual_seed(seed)
    labels = torch.as_tensor(np.asarray(labels), dtype=torch.int64)
    order = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in tqdm(range(epochs), desc="training the ANN", unit="epoch", disable=not progress, leave=False):
        model.train()
        perm = torch.randperm(len(images), generator=order)
        for lo in range(0, len(images), batch_size):
            idx = perm[lo:lo + batch_size]
            loss = F.cross_entropy(model(images[idx]), labels[idx])
            if penalty is not None:
                loss = loss + penalty()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model.eval()


@torch.no_grad()
def accuracy(model: nn.Module, images: torch.Tensor, labels) -> float:
    model.eval()
    return float((model(images).argmax(1).numpy() == np.asarray(labels)).mean())


@torch.no_grad()
def seconds_per_image(model: nn.Module, images: torch.Tensor) -> float:
    """Wall time of one forward pass over all ``images`` (one batch), per image."""
    model.eval()
    began = time.perf_counter()
    model(images)
    return (time.perf_counter() - began) / len(images)
