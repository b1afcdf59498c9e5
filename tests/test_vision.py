"""The event-camera demo: spike input from events, a tiny model end to end, the real recording, the cache."""
from pathlib import Path

import numpy as np
import pytest
import torch

from spiking.convert import convert, evaluate
from spiking.datasets import make_events, mnist_subset, read
from spiking.datasets.mnist import Digits
from spiking.datasets.nmnist_synth import load_synthetic_nmnist, make_synthetic_nmnist
from spiking.runtime import currents, run
from spiking.runtime.events import events_to_stimulus
from spiking.vision import (classify_recording, encoder, event_frames, mean_input, stabilize, synthetic_nmnist,
                            train_on_counts, vision_ann)

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "events" / "sample_nmnist.bin"
needs_real = pytest.mark.skipif(not REAL.exists(), reason="needs ../shared/data/events (not in a fresh clone)")
STEPS, DT_US = 8, 40_000          # 320 ms, the window of the demo in fewer steps


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A model trained on 24 synthetic samples of digits 0 and 1 (12 each), converted; and 8 test samples."""
    digits = mnist_subset()
    tr = np.concatenate([np.flatnonzero(digits.train_labels == d)[:12] for d in (0, 1)])
    te = np.concatenate([np.flatnonzero(digits.test_labels == d)[:4] for d in (0, 1)])
    small = Digits(digits.train_images[tr], digits.train_labels[tr], digits.test_images[te], digits.test_labels[te])
    folder = tmp_path_factory.mktemp("tiny")
    data = {split: load_synthetic_nmnist(make_synthetic_nmnist(folder / f"{split}.h5", split, digits=small,
                                                               progress=False)) for split in ("train", "test")}
    encode = encoder(STEPS, DT_US)
    frames = event_frames(data["train"][0], encode)
    model = train_on_counts(vision_ann(dropout=0.0), frames, data["train"][1], STEPS, epochs=15, fine_tune=0)
    return dict(data=data, encode=encode, frames=frames, model=model, converted=convert(model, frames))


def test_mean_input_by_hand():
    events = make_events(x=[3, 3, 0, 3], y=[1, 1, 0, 1], t=[0, 5, 12, 39], p=[1, 1, 0, 0])
    stim = events_to_stimulus([events], (4, 2, 2), 4, 10)
    expected = np.zeros((1, 2, 2, 4), np.float32)
    expected[0, 1, 1, 3] = 2 / 4           # two ON events at (3, 1) in step 0
    expected[0, 0, 0, 0] = 1 / 4           # OFF at (0, 0) in step 1
    expected[0, 0, 1, 3] = 1 / 4           # OFF at (3, 1) in step 3
    np.testing.assert_array_equal(mean_input(stim), expected)


def test_trained_on_counts_reads_means_per_step():
    """The returned model on mean inputs gives what the trained one gives on counts (biases included)."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(8, 3))
    counts = torch.randint(0, 5, (4, 1, 4, 4)).float()
    with torch.no_grad():
        expected = model(counts)
    per_step = train_on_counts(model, counts / 16, [0, 1, 2, 0], 16, epochs=0, fine_tune=0)
    with torch.no_grad():
        torch.testing.assert_close(per_step(counts / 16), expected)


def test_stabilize_by_hand():
    """The digit's shift at the corners of the saccade path is (0, 0), (3.5, 7), (7, 0), (0, 0) px."""
    events = make_events(x=[5, 10, 10, 9, 0], y=[5, 10, 1, 3, 5], t=[0, 105_000, 105_000, 210_000, 315_000],
                         p=[1, 0, 1, 0, 1])
    out = stabilize(events)
    # 3.5 rounds to 4 (half to even); the third event would land at y = -6 and is dropped
    np.testing.assert_array_equal(out["x"], [5, 6, 2, 0])
    np.testing.assert_array_equal(out["y"], [5, 3, 3, 5])
    np.testing.assert_array_equal(out["t"], [0, 105_000, 210_000, 315_000])
    np.testing.assert_array_equal(out["p"], [1, 0, 0, 1])


def test_stabilize_holds_the_digit_still(tiny):
    """Over a synthetic sample, the stabilised events cover far fewer pixels than the raw ones."""
    for ev in tiny["data"]["test"][0][:3]:
        raw, still = (len(np.unique(e["y"].astype(np.int64) * 34 + e["x"])) for e in (ev, stabilize(ev)))
        assert still < 0.8 * raw and len(stabilize(ev)) > 0.95 * len(ev)


def test_event_path_feeds_spikes_not_currents(tiny):
    """The SNN gets spike counts: the first layer counts synaptic events (fan-out of each input spike,
    borders included, computed here from the weights), never MACs; the same mean frame as currents is MACs."""
    samples = tiny["data"]["test"][0][:2]
    stim = tiny["encode"](samples)
    assert not stim.analog and stim.steps == STEPS and stim.shape == (1, 34, 34)
    assert np.all(stim.value == np.floor(stim.value))
    assert stim.value.sum() == sum(len(stabilize(s)) for s in samples)     # all inside the 320 ms window
    net = tiny["converted"].network
    first = next(iter(net.projections))
    weight = net.projections[first].weighted.weight
    out_h, out_w = 34 - weight.shape[2] + 1, 34 - weight.shape[3] + 1
    nonzero = weight != 0
    fan_out = np.zeros((weight.shape[1], 34, 34), np.int64)
    for ky in range(weight.shape[2]):
        for kx in range(weight.shape[3]):
            fan_out[:, ky:ky + out_h, kx:kx + out_w] += nonzero[:, :, ky, kx].sum(axis=0)[:, None, None]
    result = run(net, stim, STEPS)
    assert result.counts.effective_macs.sum() == 0
    assert result.counts.synaptic_events[:, 0].sum() == int((stim.value * fan_out.reshape(-1)[stim.index]).sum())
    analog = run(net, currents(mean_input(stim)), STEPS)
    assert analog.counts.synaptic_events[:, 0].sum() == 0 and analog.counts.effective_macs[:, 0].sum() > 0


def test_tiny_model_end_to_end(tiny):
    """Trained on the fly, converted and run from events: it learns the two digits, the SNN agrees with the
    ANN on the test samples, and the event-driven run gives what the dense reference gives."""
    (_, train_y), (test_ev, test_y) = tiny["data"]["train"], tiny["data"]["test"]
    model, converted, encode = tiny["model"], tiny["converted"], tiny["encode"]
    with torch.no_grad():
        ann = model(event_frames(test_ev, encode)).argmax(1).numpy()
        assert (model(tiny["frames"]).argmax(1).numpy() == train_y).mean() >= 0.9        # chance: 0.5
    event = evaluate(converted, test_ev, test_y, STEPS, encode=encode)
    dense = evaluate(converted, test_ev, test_y, STEPS, encode=encode, backend="dense")
    assert event.images == len(test_ev) == 8
    assert (event.predictions[:, 0] == ann).mean() >= 7 / 8
    assert event.accuracy[STEPS] >= 7 / 8
    np.testing.assert_array_equal(event.predictions, dense.predictions)
    # float32 weights: a spike sitting on the threshold may flip between summation orders; none here
    assert np.abs(event.counts.spikes - dense.counts.spikes).sum() <= 2


@needs_real
def test_real_recording_classifies(tiny):
    real = classify_recording(tiny["converted"], tiny["model"], REAL, tiny["encode"], STEPS)
    events = read(REAL, sensor_size=(34, 34)).events                      # 0.65 .. 311 ms, inside 320 ms
    assert real["events"] == 4325 and real["events_in_window"] == len(stabilize(events)) > 4000
    assert len(real["snn_scores"]) == 10 and real["snn_prediction"] == int(np.argmax(real["snn_scores"]))
    assert real["snn_prediction"] in (0, 1) and real["synaptic_events"] > 0


def test_cached_dataset_is_made_once_and_deterministic(tmp_path, monkeypatch):
    first = synthetic_nmnist(tmp_path / "a", limit=3, progress=False)
    again = synthetic_nmnist(tmp_path / "b", limit=3, progress=False)
    for split in ("train", "test"):
        assert len(first[split][0]) == 3
        np.testing.assert_array_equal(first[split][1], again[split][1])
        for x, y in zip(first[split][0], again[split][0]):
            np.testing.assert_array_equal(x, y)
    files = sorted((tmp_path / "a").iterdir())
    assert [f.name for f in files] == [f"synthetic-nmnist-seed0-{split}-first3.h5" for split in ("test", "train")]

    def refuse(*args, **kwargs):
        raise AssertionError("the cached split was made again")

    monkeypatch.setattr("spiking.vision.make_synthetic_nmnist", refuse)
    cached = synthetic_nmnist(tmp_path / "a", limit=3, progress=False)
    np.testing.assert_array_equal(cached["test"][0][2], first["test"][0][2])
