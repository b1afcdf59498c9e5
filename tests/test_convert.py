"""ANN-to-SNN conversion: tracing and folding against torch's own forward pass, scaling against the
ANN's activations, the spiking rates against the rounding law of soft-reset IF neurons, accuracy on
real MNIST, and the errors that name what cannot be converted."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import spiking as sp
from spiking import ConversionError
from spiking.convert import QCFS, convert, evaluate, trace
from spiking.convert.calibrate import record, scale
from spiking.convert.trace import INPUT
from spiking.runtime.dense import _apply, _weights


class Residual(nn.Module):
    """BatchNorm after convolutions, a residual add, functional ReLU, max pooling, a reused module,
    flatten by view, dropout and a clipped ReLU."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(2, 4, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(4)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(4)
        self.act = nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        self.drop = nn.Dropout(0.5)
        self.fc1 = nn.Linear(4 * 4 * 4, 12)
        self.fc2 = nn.Linear(12, 5)

    def forward(self, x):
        a = self.act(self.bn1(self.conv1(x)))
        b = F.relu(self.bn2(self.conv2(a)) + a)
        p = self.pool(b)
        h = torch.clamp(self.fc1(self.drop(p.view(p.size(0), -1))), min=0, max=3.0)
        return self.fc2(self.act(h))


def _randomise_bn(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.2)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)
    return model.eval()


def _ann_of(traced, x: torch.Tensor) -> torch.Tensor:
    """Evaluate the traced layers as an ANN (ReLU with ceiling, term chains, bias maps) for one sample."""
    values = {INPUT: x.double()}

    def affine(a):
        total = a.bias.clone() if a.bias is not None else torch.zeros(a.shape, dtype=torch.float64)
        for term in a.terms:
            v = values[term.source]
            for op in term.chain:
                v = op.apply(v)
            total = total + v
        return total

    for layer in traced.layers:
        values[layer.name] = affine(layer.input).clamp(0, layer.ceiling)
    return affine(traced.readout)


def test_tracing_folds_batchnorm_residual_and_pooling_exactly():
    torch.manual_seed(0)
    model = _randomise_bn(Residual())
    x = torch.rand(3, 2, 8, 8)
    traced = trace(model, x[:1])
    assert [layer.name for layer in traced.layers] == ["act", "relu", "clamp", "act_1"]
    assert [layer.path for layer in traced.layers] == ["act", "relu", "clamp", "act"]
    assert traced.layers[2].ceiling == 3.0
    with torch.no_grad():
        expected = model(x).double()
    for i in range(3):
        torch.testing.assert_close(_ann_of(traced, x[i]), expected[i], rtol=1e-5, atol=1e-6)


def test_avg_pool_after_a_convolution_becomes_one_convolution():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.AvgPool2d(2), nn.ReLU(), nn.Flatten(), nn.Linear(48, 4))
    x = torch.rand(2, 1, 8, 8)
    traced = trace(model, x[:1])
    (term,) = traced.layers[0].input.terms
    assert len(term.chain) == 1 and term.chain[0].weight.shape[-2:] == (4, 4) and term.chain[0].conv[0] == (2, 2)
    with torch.no_grad():
        expected = model(x).double()
    torch.testing.assert_close(_ann_of(traced, x[1]), expected[1], rtol=1e-5, atol=1e-6)


def _rate_ann(net, x: np.ndarray) -> dict:
    """The converted network read as an ANN in rate units: each layer clip(relu(input + bias), 0, 1),
    its projections applied with the dense reference's torch ops (max pooling as max of rates)."""
    rates = {INPUT: torch.from_numpy(x[None].astype(np.float32))}
    for pop in net.order[1:]:
        total = torch.from_numpy(np.broadcast_to(pop.neuron.params()["bias"], pop.shape).astype(np.float32))[None]
        for proj in net.projections.values():
            if proj.post != pop.name:
                continue
            v = rates[proj.pre]
            for op in proj.ops:
                if isinstance(op, sp.network.MaxPool2d):
                    v = F.max_pool2d(v, op.kernel_size, op.stride)
                else:
                    v = _apply(op, v, _weights(op))
            total = total + v.reshape(total.shape)
        rates[pop.name] = total if pop.name == "output" else total.clamp(0, 1)
    return rates


@pytest.mark.parametrize("per_channel", [False, True])
def test_scaled_weights_reproduce_the_ann_in_rate_units(per_channel):
    torch.manual_seed(2)
    model = _randomise_bn(Residual())
    calib = torch.rand(64, 2, 8, 8)
    conv = convert(model, calib, normalization="max", per_channel=per_channel)
    x = calib[5]
    acts = record(trace(model, x[None]).module, x[None], ["act", "relu", "clamp", "act_1", "output"])
    rates = _rate_ann(conv.network, x.numpy())
    for name in ("act", "relu", "clamp", "act_1"):
        lam = np.asarray(conv.scales[name])
        lam = lam.reshape((-1,) + (1,) * (acts[name].ndim - 2)) if lam.ndim else lam
        np.testing.assert_allclose(rates[name][0].numpy() * lam, acts[name][0], rtol=1e-4, atol=1e-5)
    # with max normalization nothing clips, so the readout equals the ANN's output
    np.testing.assert_allclose(rates["output"][0].numpy(), acts["output"][0], rtol=1e-4, atol=1e-5)


def test_scales_are_percentiles_of_positive_activations_and_order_independent():
    rng = np.random.default_rng(0)
    acts = np.maximum(rng.normal(size=(50, 3, 4, 4)), 0).astype(np.float32)
    positive = acts[acts > 0]
    assert scale(acts, "max") == positive.max()
    assert scale(acts, "percentile", 99.0) == pytest.approx(np.percentile(positive, 99.0))
    per_channel = scale(acts, "percentile", 90.0, per_channel=True)
    assert per_channel.shape == (3,)
    assert per_channel[1] == pytest.approx(np.percentile(acts[:, 1][acts[:, 1] > 0], 90.0))
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 3))
    calib = torch.rand(40, 1, 4, 4)
    a = convert(model, calib, batch_size=7)
    b = convert(model, calib[torch.randperm(40)], batch_size=40)
    assert a.scales.keys() == b.scales.keys()
    for key in a.scales:
        assert np.asarray(a.scales[key]) == pytest.approx(np.asarray(b.scales[key]))
    assert a.network == b.network or all(np.allclose(pa.neuron.params()["bias"], pb.neuron.params()["bias"])
                                         for pa, pb in zip(a.network.order, b.network.order))


@pytest.mark.parametrize("half", [True, False])
def test_first_layer_spike_counts_follow_the_rounding_law(half):
    """Soft-reset IF with constant input a/lam: after T steps the count is floor(T a/lam + 1/2) with a
    half-threshold start, floor(T a/lam) from zero."""
    model = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 2))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor(np.arange(24).reshape(6, 4) % 5 - 1.5, dtype=torch.float32) / 4)
        model[0].bias.copy_(torch.linspace(-0.25, 0.5, 6))
    calib = torch.tensor([[1.0, 0.5, 0.25, 0.75]])
    conv = convert(model, calib, normalization="max", half_threshold=half)
    x = np.array([[0.5, 0.25, 1.0, 0.75]], np.float32)
    steps = 40
    result = sp.run(conv.network, sp.currents(x), steps, record=conv.layers[:1])
    counts = result.recorded[conv.layers[0]].sum(axis=0)[0]
    with torch.no_grad():
        a = torch.relu(model[0](torch.from_numpy(x))).double().numpy()[0]
    ratio = np.minimum(a / float(conv.scales[conv.layers[0]]), 1.0)
    expected = np.minimum(np.floor(steps * ratio + (0.5 if half else 0.0)), steps)
    # float32 accumulation may move a count by one where steps * ratio sits on the rounding edge
    assert np.abs(counts - expected).max() <= 1
    assert (counts == expected).mean() >= 5 / 6


@pytest.fixture(scope="module")
def mnist_mlp():
    from spiking.bench.train import accuracy, images_to_tensor, train_classifier
    from spiking.datasets import mnist_subset

    digits = mnist_subset()
    x, xt = images_to_tensor(digits.train_images), images_to_tensor(digits.test_images)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 10))
    train_classifier(model, x, digits.train_labels, epochs=3)
    return model, x, xt[:300], digits.test_labels[:300], accuracy(model, xt[:300], digits.test_labels[:300])


def test_converted_mlp_matches_ann_accuracy_and_backends_agree(mnist_mlp):
    model, x, xt, yt, ann = mnist_mlp
    conv = convert(model, x[:500])
    event = evaluate(conv, xt.numpy(), yt, steps=(16, 64), batch_size=64)
    dense = evaluate(conv, xt.numpy(), yt, steps=(16, 64), batch_size=300, backend="dense")
    assert ann > 0.85
    assert event.accuracy[64] >= ann - 0.01
    assert event.accuracy[16] >= ann - 0.03
    # float32 sums in a different order may flip a spike that sits on the threshold: few, if any
    spikes_e = event.counts.spikes.sum(axis=0)
    spikes_d = dense.counts.spikes.sum(axis=0)
    assert np.abs(spikes_e - spikes_d).sum() <= 1e-3 * spikes_e.sum()
    assert (event.predictions != dense.predictions).mean() <= 0.01
    # the prefix accuracies of one run equal those of a shorter run
    short = evaluate(conv, xt.numpy(), yt, steps=16, batch_size=64)
    assert short.accuracy[16] == event.accuracy[16]
    assert short.synaptic_events[16] == event.synaptic_events[16]
    assert 0 < event.rates["2"] < 1


def test_spike_readout_counts_output_spikes(mnist_mlp):
    model, x, xt, yt, ann = mnist_mlp
    conv = convert(model, x[:500], readout="spikes")
    out = conv.network.populations["output"].neuron
    assert float(np.max(out.v_threshold)) == 1.0
    ev = evaluate(conv, xt.numpy(), yt, steps=64)
    assert ev.accuracy[64] >= ann - 0.03


def test_qcfs_layers_take_their_trained_ceiling_and_quantize():
    q = QCFS(levels=4, ceiling=2.0)
    x = torch.tensor([-1.0, 0.2, 0.26, 1.0, 5.0], requires_grad=True)
    y = q(x)
    torch.testing.assert_close(y, torch.tensor([0.0, 0.0, 0.5, 1.0, 2.0]))
    y.sum().backward()
    assert x.grad is not None and q.ceiling.grad is not None
    model = nn.Sequential(nn.Linear(3, 5), QCFS(levels=8, ceiling=1.5), nn.Linear(5, 2))
    conv = convert(model, torch.rand(10, 3))
    assert float(conv.scales[conv.layers[0]]) == 1.5


@pytest.mark.parametrize("model, message", [
    (nn.Sequential(nn.Linear(4, 4), nn.Sigmoid(), nn.Linear(4, 2)), r"node '_1' \(call_module 1\): module '1' of type Sigmoid"),
    (nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4), nn.ReLU()), "a second Linear/Conv2d"),
    (nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.BatchNorm1d(4), nn.Linear(4, 2)), "must follow a Conv2d or Linear"),
    (nn.Sequential(nn.Linear(4, 4), nn.Hardtanh(), nn.Linear(4, 2)), "floor of 0"),
    (nn.Sequential(nn.Unflatten(1, (1, 2, 2)), nn.Conv2d(1, 2, 1), nn.ReLU(), nn.MaxPool2d(2, padding=1)),
     "Unflatten"),
])
def test_unconvertible_models_name_the_node(model, message):
    with pytest.raises(ConversionError, match=message):
        convert(model, torch.rand(4, 4))


def test_bad_arguments_are_refused():
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2))
    with pytest.raises(ConversionError, match="normalization"):
        convert(model, torch.rand(4, 4), normalization="mean")
    with pytest.raises(ConversionError, match="readout"):
        convert(model, torch.rand(4, 4), readout="rates")
    with pytest.raises(ConversionError, match="empty"):
        convert(model, torch.rand(0, 4))
    with pytest.raises(ConversionError, match="percentile"):
        convert(model, torch.rand(4, 4), percentile=0)
