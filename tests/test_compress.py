"""Pruning, quantization, sparse projections for pruned layers and the activity regularizer."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import spiking as sp
from spiking.compress import activity_penalty, prune, quantize, sparsify, sparsity
from spiking.network import Conv2d, Linear, Sparse
from spiking.runtime import compile as compile_module


def _mlp(w1, w2) -> nn.Sequential:
    model = nn.Sequential(nn.Linear(len(w1[0]), len(w1), bias=False), nn.ReLU(),
                          nn.Linear(len(w2[0]), len(w2), bias=False))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor(w1))
        model[2].weight.copy_(torch.tensor(w2))
    return model


def test_global_pruning_zeroes_the_smallest_weights_over_all_layers():
    model = _mlp([[0.5, -0.1, 0.3], [-0.05, 0.9, 0.2]], [[0.4, -0.15], [0.25, 0.01]])
    pruned = prune(model, 0.5)
    # 10 weights, 5 go: 0.01, 0.05, 0.1, 0.15, 0.2
    assert np.array_equal(pruned[0].weight.detach().numpy(), np.float32([[0.5, 0.0, 0.3], [0.0, 0.9, 0.0]]))
    assert np.array_equal(pruned[2].weight.detach().numpy(), np.float32([[0.4, 0.0], [0.25, 0.0]]))
    assert model[0].weight[0, 1].item() == pytest.approx(-0.1)  # the original is untouched
    assert sparsity(pruned) == 0.5 and sparsity(model) == 0.0


def test_layer_pruning_takes_the_same_fraction_from_each_layer():
    model = _mlp([[0.5, -0.1, 0.3], [-0.05, 0.9, 0.2]], [[0.4, -0.15], [0.25, 0.01]])
    pruned = prune(model, 0.5, scope="layer")
    # layer 1: 3 of 6 go (0.05, 0.1, 0.2); layer 2: 2 of 4 go (0.01, 0.15)
    assert np.array_equal(pruned[0].weight.detach().numpy(), np.float32([[0.5, 0.0, 0.3], [0.0, 0.9, 0.0]]))
    assert np.array_equal(pruned[2].weight.detach().numpy(), np.float32([[0.4, 0.0], [0.25, 0.0]]))
    pruned = prune(model, 0.34, scope="layer")  # round(2.04) = 2 and round(1.36) = 1
    assert (pruned[0].weight == 0).sum() == 2 and (pruned[2].weight == 0).sum() == 1


def test_pruning_ties_and_bounds():
    model = _mlp([[1.0, 1.0, 1.0, 1.0]], [[1.0]])
    pruned = prune(model, 0.4)  # round(2.0) = 2 of 5 equal weights: the first two by position
    assert pruned[0].weight.tolist() == [[0.0, 0.0, 1.0, 1.0]] and pruned[2].weight.item() == 1.0
    assert sparsity(prune(model, 1.0)) == 1.0
    with pytest.raises(sp.ValidationError, match="sparsity must lie"):
        prune(model, 1.5)
    with pytest.raises(sp.ValidationError, match="scope must be one of"):
        prune(model, 0.5, scope="row")
    with pytest.raises(sp.ValidationError, match="finetune"):
        prune(model, 0.5, steps=3)


def test_finetuning_keeps_pruned_weights_at_zero_and_trains_the_rest():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3))
    x = torch.randn(64, 6)
    y = torch.randint(0, 3, (64,))
    plain = prune(model, 0.75)
    tuned = prune(model, 0.75, finetune=(x, y, 2), steps=3)
    weights = [tuned[0].weight, tuned[2].weight]
    assert sum(int((w == 0).sum()) for w in weights) == round(0.75 * (96 + 48))
    # fine-tuning moved the surviving weights
    assert not torch.equal(tuned[0].weight, plain[0].weight)
    # the last step keeps whatever the earlier steps pruned: every pruned weight is exactly zero
    assert sparsity(tuned) == pytest.approx(0.75)


def test_sparsity_of_a_network_counts_absent_synapses():
    net = sp.Network()
    net.input("in", (2, 4, 4))
    net.population("a", sp.IF(), (1, 2, 2))
    w = np.zeros((1, 2, 3, 3), np.float32)
    w[0, 0, 1, 1] = 1.0  # 1 of 18 non-zero
    net.connect("in", "a", Conv2d(w))
    net.population("b", sp.IF(), (3,))
    net.connect("a", "b", [sp.Flatten(), Sparse.from_dense(np.array([[1, 0, 0, 2]] * 3, np.float32))])
    assert sparsity(net) == pytest.approx((17 + 6) / (18 + 12))


def test_quantization_grid_per_layer_and_per_channel():
    w = np.array([[0.5, -0.25, 0.1], [1.0, 0.3, -0.7]], np.float32)
    net = sp.Network()
    net.input("in", (3,))
    net.population("out", sp.IF(), (2,))
    net.connect("in", "out", Linear(w))
    # 3 bits: integers -3..3; per layer s = 1/3: w/s = [[1.5, -0.75, 0.3], [3, 0.9, -2.1]]
    got = quantize(net, 3).projections["in->out"].ops[0].weight
    assert np.array_equal(got, (np.array([[2, -1, 0], [3, 1, -2]]) / 3).astype(np.float32))
    # per channel: row 0 has s = 0.5/3: w/s = [3, -1.5, 0.6] (-1.5 rounds to even)
    got = quantize(net, 3, per_channel=True).projections["in->out"].ops[0].weight
    assert np.array_equal(got[0], (np.array([3, -2, 1]) * 0.5 / 3).astype(np.float32))
    assert np.array_equal(got[1], (np.array([3, 1, -2]) / 3).astype(np.float32))
    for bits in (1, 17, 4.5, np.inf):
        with pytest.raises(sp.ValidationError, match=r"bits must be a whole number in \[2, 16\]"):
            quantize(net, bits)


def test_quantization_of_conv_and_sparse_keeps_zeros_and_levels():
    rng = np.random.default_rng(0)
    w = (rng.normal(size=(4, 2, 3, 3)) * (rng.random((4, 2, 3, 3)) < 0.5)).astype(np.float32)
    dense = rng.normal(size=(5, 16)).astype(np.float32) * (rng.random((5, 16)) < 0.3)
    net = sp.Network()
    net.input("in", (2, 6, 6))
    net.population("c", sp.IF(), (4, 4, 4))
    net.connect("in", "c", Conv2d(w))
    net.population("s", sp.IF(), (5,))
    net.connect("c", "s", [sp.SumPool2d(2), sp.Flatten(), Sparse.from_dense(dense)])
    for bits in (4, 8):
        for per_channel in (False, True):
            q = quantize(net, bits, per_channel=per_channel)
            cw = q.projections["in->c"].ops[0].weight
            sv = q.projections["c->s"].ops[2]
            m = np.abs(w).max(axis=(1, 2, 3), keepdims=True) if per_channel else np.abs(w).max()
            k = cw / (m / (2 ** (bits - 1) - 1))
            assert np.allclose(k, np.round(k), atol=1e-4) and np.abs(k).max() <= 2 ** (bits - 1) - 1 + 1e-4
            assert np.array_equal(cw == 0, np.round(w / (m / (2 ** (bits - 1) - 1))) == 0)
            assert np.array_equal(sv.post, net.projections["c->s"].ops[2].post)
            assert (sv.values[net.projections["c->s"].ops[2].values == 0] == 0).all()


def test_sparsify_gives_the_same_spikes_and_counts():
    rng = np.random.default_rng(1)
    w1 = (rng.integers(-64, 65, (20, 12)) * (rng.random((20, 12)) < 0.2) / 128).astype(np.float32)
    w2 = (rng.integers(-64, 65, (4, 20)) / 128).astype(np.float32)
    net = sp.Network()
    net.input("in", (12,))
    net.population("h", sp.IF(v_threshold=0.5), (20,))
    net.connect("in", "h", Linear(w1))
    net.population("o", sp.IF(), (4,))
    net.connect("h", "o", Linear(w2))
    sparse = sparsify(net, max_density=0.5)
    assert isinstance(sparse.projections["in->h"].ops[0], Sparse)
    assert isinstance(sparse.projections["h->o"].ops[0], Linear)  # dense: left alone
    stim = sp.spikes((rng.random((16, 3, 12)) < 0.5).astype(np.uint8))
    a = sp.run(net, stim, record=("h",))
    b = sp.run(sparse, stim, record=("h",))
    assert np.array_equal(a.recorded["h"], b.recorded["h"]) and a.counts == b.counts
    assert np.array_equal(a.output_spikes, b.output_spikes)


def _conv_net(w, pool=None, stride=1, padding=1, groups=1):
    c_out, c_in_g = w.shape[:2]
    net = sp.Network()
    net.input("in", (c_in_g * groups, 10, 10))
    size = 10 // (pool.kernel_size[0] if pool else 1)
    out = (size + 2 * padding - w.shape[2]) // stride + 1
    net.population("c", sp.IF(v_threshold=0.5), (c_out, out, out))
    net.connect("in", "c", ([pool] if pool else []) + [Conv2d(w, stride, padding, groups)])
    return net


@pytest.mark.parametrize("pool,stride,groups", [(None, 1, 1), (None, 2, 1), (None, 1, 2), (sp.AvgPool2d(2), 1, 1),
                                                (sp.network.MaxPool2d(2), 1, 1), (sp.SumPool2d(2), 2, 2)])
def test_pruned_convolution_runs_sparse_with_the_same_spikes(monkeypatch, pool, stride, groups):
    rng = np.random.default_rng(2)
    w = (rng.integers(-32, 33, (6, 4 // groups, 3, 3)) / 64).astype(np.float32)
    keep = np.zeros(w.size, bool)
    keep[rng.choice(w.size, w.size // 25, replace=False)] = True
    w *= keep.reshape(w.shape)  # 1 in 25 non-zero: compiled to SPARSE_CONV
    net = _conv_net(w, pool, stride, groups=groups)
    stim = sp.spikes((rng.random((12, 2, 4, 10, 10)) < 0.3).astype(np.uint8))
    sparse_plan = sp.compile_network(net)
    assert sparse_plan.proj_kind[0] == compile_module.SPARSE_CONV
    monkeypatch.setattr(compile_module, "SPARSE_CONV_DENSITY", 0.0)
    dense_plan = sp.compile_network(net)
    assert dense_plan.proj_kind[0] == compile_module.CONV
    a = sp.run(net, stim, record=("c",), plan=sparse_plan)
    b = sp.run(net, stim, record=("c",), plan=dense_plan)
    c = sp.run(net, stim, record=("c",), backend="dense")
    assert a.recorded["c"].any()
    for other in (b, c):
        assert np.array_equal(a.recorded["c"], other.recorded["c"]) and a.counts == other.counts


def test_zero_weights_carry_no_synaptic_events():
    w = np.zeros((2, 1, 3, 3), np.float32)
    w[1, 0, 1, 1] = 1.0  # the centre tap of one output channel: one synapse per input pixel
    net = _conv_net(w)
    frames = np.zeros((3, 1, 1, 10, 10), np.uint8)
    frames[0, 0, 0, 0, 0] = frames[1, 0, 0, 4, 5] = frames[2, 0, 0, 9, 9] = 1
    for plan in (sp.compile_network(net), None):
        result = sp.run(net, sp.spikes(frames), plan=plan, backend="event" if plan else "dense")
        assert result.counts.synaptic_events[:, 0].tolist() == [1, 1, 1]
    lin = sp.Network()
    lin.input("in", (3,))
    lin.population("o", sp.IF(), (2,))
    lin.connect("in", "o", Sparse.from_dense(np.array([[1, 0, 0], [0, 0, 0]], np.float32)))
    result = sp.run(lin, sp.spikes(np.array([[[1, 1, 1]], [[0, 1, 1]]], np.uint8)))
    assert result.counts.synaptic_events[:, 0].tolist() == [1, 0]


def test_activity_penalty_by_hand_and_only_with_gradients():
    model = nn.Sequential(nn.Linear(2, 2, bias=False), nn.ReLU())
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[1.0, -1.0], [0.5, 2.0]]))
    penalty = activity_penalty(model, 0.1)
    x = torch.tensor([[1.0, 2.0], [3.0, -1.0]])
    with torch.no_grad():
        model(x)  # not collected
    model(x)
    # pre-activations [[-1, 4.5], [4, -0.5]] -> ReLU [[0, 4.5], [4, 0]]: mean 2.125
    value = penalty()
    assert value.item() == pytest.approx(0.2125)
    value.backward()
    assert model[0].weight.grad is not None and model[0].weight.grad.abs().sum() > 0
    with pytest.raises(sp.ValidationError, match="no activations collected"):
        penalty()
    model(x)
    l2 = activity_penalty(model, 1.0, norm="l2")
    model(x)
    assert l2().item() == pytest.approx((4.5 ** 2 + 4 ** 2) / 4)
    penalty.remove()
    l2.remove()
    with pytest.raises(sp.ValidationError, match="no Conv2d module"):
        activity_penalty(model, 1.0, modules=(nn.Conv2d,))


def test_activity_penalty_in_training_lowers_activity():
    from spiking.bench.train import train_classifier

    torch.manual_seed(0)
    x = torch.randn(256, 8)
    y = (x[:, 0] > 0).long()

    def mean_activation(weight):
        torch.manual_seed(1)
        model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 2))
        penalty = activity_penalty(model, weight) if weight else None
        train_classifier(model, x, y, epochs=5, lr=1e-2, seed=0, penalty=penalty)
        with torch.no_grad():
            return model[1](model[0](x)).mean().item()

    assert mean_activation(1.0) < 0.5 * mean_activation(0.0)
