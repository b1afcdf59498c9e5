"""Energy pricing checked by hand on a small network, against KerasSpiking's published formula, and by
the properties the issue asks for: linear in synaptic events, per-step terms alone at zero input,
independent of batch composition. Profiles are data with provenance, and bad files are refused.
"""
import json
import math

import numpy as np
import pytest

import spiking as sp
from spiking.bench.models import INPUT_SHAPES, lenet
from spiking.energy import price, profile
from spiking.energy.profiles import EVIDENCE, SCOPES, Constant, Profile, builtin_profiles, load_profiles

# Round numbers so every term can be worked out by hand: energies in J, power in W, time in s.
HAND_PROFILE = """
[hand]
description = "round numbers for hand-computed terms"
weight_bits = 16
state_bits = 32
{constants}
[[hand.memory]]
name = "small"
capacity_bytes = 8
access_bits = 64
value = 100.0
source = "test"
node = "none"
scope = "per-term"
evidence = "derived"

[[hand.memory]]
name = "big"
capacity_bytes = inf
access_bits = 64
value = 1000.0
source = "test"
node = "none"
scope = "per-term"
evidence = "derived"
"""
HAND_VALUES = dict(synaptic_op=1.0, mac=10.0, add=2.0, mul=3.0, spike=5.0, route=7.0, static_power=11.0,
                   step_time=0.5)


def _constant_toml(name, key, value, **over):
    fields = dict(value=value, source="test", node="none", scope="per-term", evidence="derived") | over
    body = "\n".join(f"{k} = {v!r}" if not isinstance(v, str) else f'{k} = "{v}"' for k, v in fields.items())
    return f"[{name}.{key}]\n{body}\n"


@pytest.fixture
def hand_profile(tmp_path):
    path = tmp_path / "hand.toml"
    path.write_text(HAND_PROFILE.format(constants="".join(_constant_toml("hand", k, v)
                                                          for k, v in HAND_VALUES.items())))
    return profile(path)


def hand_network():
    """input(3) -> LIF(beta 0.5, bias 0.25) x2 -> IF x2; W1 has one zero, W2 one zero."""
    net = sp.Network()
    net.input("in", (3,))
    net.population("a", sp.LIF(beta=0.5, bias=0.25), (2,))
    net.population("b", sp.IF(), (2,))
    net.connect("in", "a", sp.Linear([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]]), name="q1")
    net.connect("a", "b", sp.Linear([[0.5, 0.5], [1.0, 0.0]]), name="q2")
    return net


def hand_stimulus(active=True):
    x = np.zeros((2, 1, 3), np.uint8)
    if active:
        x[0, 0] = [1, 0, 1]
    return sp.spikes(x)


def energy_of(report, layer, term, machine="snn"):
    return sum(t.energy for t in report.terms[machine] if t.layer == layer and t.term.startswith(term))


def test_hand_counts_of_the_small_network():
    # a: t0 v = (2 + 0.25, 1 + 0.25), both spike; t1 v = 0.5 v + 0.25 - 1 = (0.375, -0.125): no spike.
    # b: t0 currents (1, 1), not above threshold 1; t1 unchanged (IF, no input).
    c = sp.run(hand_network(), hand_stimulus()).counts.totals()
    assert c["synaptic_events"] == {"q1": 3, "q2": 3}
    assert c["spikes"] == {"in": 2, "a": 2, "b": 0}
    assert c["neuron_updates"] == {"in": 0, "a": 4, "b": 4}
    assert c["membrane_updates"] == {"in": 0, "a": 4, "b": 2}


def test_each_term_by_hand(hand_profile):
    rep = price(sp.run(hand_network(), hand_stimulus()), hand_network(), hand_profile)
    # weights: q1 6 x 16 bit = 12 B -> "big", 1000 x 16/64 = 250 per fetch; q2 8 B -> "small", 25.
    # state: 2 neurons x 32 bit = 8 B -> "small", 100 x 32/64 = 50 per access.
    expected = {
        ("q1", "synaptic ops"): 3 * 1.0, ("q1", "weight fetch"): 3 * 250.0,
        ("q1", "membrane read-modify-write"): 3 * 2 * 50.0,
        ("q2", "synaptic ops"): 3 * 1.0, ("q2", "weight fetch"): 3 * 25.0,
        ("q2", "membrane read-modify-write"): 3 * 2 * 50.0,
        # LIF with bias: integrate, compare, bias = 3 adds, leak 1 mul: 3*2 + 3 = 9 per update
        ("a", "neuron arithmetic"): 4 * 9.0, ("a", "reset"): 2 * 2.0, ("a", "state read+write"): 4 * 2 * 50.0,
        ("a", "spike emission"): 2 * 5.0, ("a", "routing"): 2 * 7.0,
        ("b", "neuron arithmetic"): 4 * 4.0, ("b", "reset"): 0.0, ("b", "state read+write"): 4 * 2 * 50.0,
        ("in", "spike emission"): 2 * 5.0, ("in", "routing"): 2 * 7.0,
        ("network", "static"): 2 * 0.5 * 11.0,
    }
    for (layer, term), value in expected.items():
        assert energy_of(rep, layer, term) == pytest.approx(value), (layer, term)
    assert rep.total() == pytest.approx(sum(expected.values()))
    assert rep.compute_only == pytest.approx(6.0)
    assert rep.total("snn", "static") == pytest.approx(11.0)
    assert rep.unpriced() == {}


def test_dense_equivalents_by_hand(hand_profile):
    net, stim = hand_network(), hand_stimulus()
    none = price(sp.run(net, stim), net, hand_profile, reuse="none")
    # ANN: q1 6 MACs (60) + 6 fetches (1500) + 6 RMW (600); q2 4 MACs (40) + 4 fetches (100) + 4 RMW (400);
    # activations: a 2 neurons x (ReLU + bias) 2 adds = 8, b 2 neurons x 1 add = 4
    assert none.total("ann") == pytest.approx(60 + 1500 + 600 + 40 + 100 + 400 + 8 + 4)
    full = price(sp.run(net, stim), net, hand_profile, reuse="full")
    # full reuse: each weight fetched once, one accumulator write per neuron (2 x 50)
    assert full.total("ann") == pytest.approx(60 + 1500 + 100 + 40 + 100 + 100 + 8 + 4)
    # dense SNN, 2 steps: 12 + 8 MACs, their fetches and RMW, plus the SNN's neuron, spike and static terms
    population = 36 + 4 + 400 + 10 + 14 + 16 + 400 + 10 + 14 + 11
    assert none.total("dense_snn") == pytest.approx(120 + 3000 + 1200 + 80 + 200 + 800 + population)
    assert full.total("dense_snn") == pytest.approx(120 + 6 * 2 * 250 + 2 * 2 * 50 + 80 + 4 * 2 * 25 + 2 * 2 * 50
                                                     + population)


def test_break_even_by_hand(hand_profile):
    rep = price(sp.run(hand_network(), hand_stimulus()), hand_network(), hand_profile)
    net_line = rep.break_even["network"]
    fixed, scaling = 36 + 16 + 800 + 11, 6 + 825 + 600 + 4 + 48
    assert net_line.activity == pytest.approx(6 / 20)
    assert net_line.fixed == pytest.approx(fixed)
    assert net_line.snn(net_line.activity) == pytest.approx(rep.total())
    assert net_line.break_even == pytest.approx((2712 - fixed) * 0.3 / scaling)
    a = rep.break_even["a"]
    assert a.activity == pytest.approx(3 / 12)
    assert a.ann == pytest.approx(60 + 1500 + 600 + 8)
    assert a.break_even == pytest.approx((2168 - 436) * 0.25 / (3 + 750 + 300 + 4 + 24))
    # 5 non-zero synapses of 6: a uniform spike rate r gives activity r * 5 / 6
    assert a.break_even_rate == pytest.approx(a.break_even * 6 / 5)


def test_zero_input_leaves_only_static_and_per_step_terms(hand_profile):
    net = hand_network()
    rep = price(sp.run(net, hand_stimulus(active=False)), net, hand_profile)
    assert all(t.energy == 0 for t in rep.terms["snn"] if t.scales)
    assert rep.compute_only == 0
    # neuron arithmetic (36 + 16), state read+write (400 + 400) and static (11)
    assert rep.total() == pytest.approx(36 + 16 + 800 + 11)
    assert rep.break_even["network"].fixed == pytest.approx(rep.total())
    # no activity to scale from: per-event terms at uniform activity over 2 steps,
    # q1 6 synapses x (op 1 + fetch 250 + RMW 2 x 50), q2 4 x (1 + 25 + 100)
    assert rep.break_even["network"].slope == pytest.approx(2 * (6 * 351 + 4 * 126))


def test_zero_input_on_lenet_keeps_per_step_terms_only():
    net = lenet()
    rep = price(sp.run(net, sp.spikes(np.zeros((4, 2) + INPUT_SHAPES["lenet"], np.uint8))), net, "horowitz45-fp32")
    assert rep.compute_only == 0
    per_step = [t for t in rep.terms["snn"] if t.energy]
    assert per_step and all(t.term.startswith(("neuron arithmetic", "state read+write")) for t in per_step)


def _sweep(densities, batch=2, steps=16):
    net = lenet()
    rows = []
    for k, d in enumerate(densities):
        res = sp.run(net, sp.poisson(np.full((batch,) + INPUT_SHAPES["lenet"], d), steps, seed=k))
        rep = price(res, net, "horowitz45-fp32")
        rows.append((res.counts.synaptic_events.sum() / batch, rep.total() - rep.total("snn", "static")))
    return np.array(rows)


def test_dynamic_energy_linear_in_synaptic_events_over_a_decade():
    rows = _sweep(np.geomspace(0.02, 0.2, 6))
    events, energy = rows.T
    assert events.max() / events.min() > 10
    slope, intercept = np.polyfit(events, energy, 1)
    r2 = 1 - ((energy - (slope * events + intercept)) ** 2).sum() / ((energy - energy.mean()) ** 2).sum()
    assert r2 >= 0.999, r2
    assert slope > 0 and intercept > 0   # per-step terms remain at zero events


def test_counts_and_energy_independent_of_batch_composition():
    net = lenet()
    shape = INPUT_SHAPES["lenet"]
    rng = np.random.default_rng(1)
    x = (rng.random((8, 3) + shape) < np.array([0.05, 0.15, 0.3])[None, :, None, None, None]).astype(np.uint8)
    alone = [price(sp.run(net, sp.spikes(x[:, i:i + 1])), net, "loihi").total() for i in range(3)]
    together = sp.run(net, sp.spikes(x))
    shuffled = sp.run(net, sp.spikes(x[:, [2, 0, 1]]))
    assert together.counts == shuffled.counts
    assert price(together, net, "loihi").total() == pytest.approx(np.mean(alone), rel=1e-12)
    parts = [sp.run(net, sp.spikes(x[:, i:i + 1])).counts.totals() for i in range(3)]
    for key, per_layer in together.counts.totals().items():
        for layer, value in per_layer.items():
            assert value == sum(p[key][layer] for p in parts)


def test_keras_spiking_dense_cpu_published_figure():
    # KerasSpiking's ModelEnergy docstring: Dense 784 -> 128 on "cpu" is 8.64e-04 J per inference;
    # a non-spiking device prices every connection and neuron once: 8.6 nJ x (784*128 + 128).
    net = sp.Network()
    net.input("in", (784,))
    net.population("dense", sp.IF(), (128,))
    net.connect("in", "dense", sp.Linear(np.full((128, 784), 0.01, np.float32)))
    rep = price(sp.run(net, sp.spikes(np.zeros((1, 1, 784), np.uint8))), net, "keras-cpu")
    assert rep.total("ann") == pytest.approx(8.6e-9 * (784 * 128 + 128), rel=1e-12)
    assert rep.total("ann") == pytest.approx(8.64e-4, rel=0.01)


@pytest.mark.parametrize("device, synop, neuron", [("keras-loihi", (23.6 + 3.5) * 1e-12, 81e-12),
                                                   ("keras-spinnaker2", 450e-12, 2.19e-9)])
def test_keras_spiking_spiking_device_formula(device, synop, neuron):
    # ModelEnergy on a spiking device, per inference and layer:
    #   E = E_synop * connections * rate * dt * timesteps + E_neuron * neurons * timesteps,
    # rate = mean |layer input| over the example data (spikes of amplitude 1/dt).
    rng = np.random.default_rng(3)
    net = sp.Network()
    net.input("in", (20,))
    net.population("h", sp.IF(v_threshold=0.5), (16,))
    net.population("o", sp.IF(v_threshold=0.5), (4,))
    net.connect("in", "h", sp.Linear(rng.uniform(0.05, 0.3, (16, 20))))
    net.connect("h", "o", sp.Linear(rng.uniform(0.05, 0.3, (4, 16))))
    steps, batch, dt = 25, 6, 0.001
    x = (rng.random((steps, batch, 20)) < 0.2).astype(np.uint8)
    res = sp.run(net, sp.spikes(x), record=["h"])
    expected = 0.0
    for layer_input, (n_in, n_out) in ((x, (20, 16)), (res.recorded["h"], (16, 4))):
        rate = np.mean(np.abs(layer_input / dt))
        expected += synop * n_in * n_out * rate * dt * steps + neuron * n_out * steps
    rep = price(res, net, device)
    assert rep.total() == pytest.approx(expected, rel=0.01)
    assert rep.total() == pytest.approx(expected, rel=1e-9)   # exact: no zero weights, no borders


def test_builtin_profiles_cover_the_issue_and_every_constant_has_provenance():
    profiles = builtin_profiles()
    for name in ("horowitz45-fp32", "horowitz45-int8", "loihi2018", "truenorth2014", "spinnaker", "spinnaker2",
                 "keras-cpu", "keras-gpu", "keras-arm", "keras-loihi", "keras-spinnaker", "keras-spinnaker2"):
        assert name in profiles
    for prof in profiles.values():
        assert prof.description
        for c in prof.provenance():
            assert c.source.strip() and c.node.strip(), (prof.name, c.name)
            assert c.scope in SCOPES and c.evidence in EVIDENCE, (prof.name, c.name)
            assert math.isfinite(c.value) and c.value > 0, (prof.name, c.name)
    assert profiles["truenorth2014"].all_in and not profiles["loihi2018"].all_in
    assert profile("loihi") is not None and profile("loihi").name == "loihi2018"
    assert profiles["horowitz45-fp32"].get("mac") == pytest.approx(4.6e-12)
    assert profiles["horowitz45-int8"].get("mac") == pytest.approx(0.23e-12)


def test_report_lists_each_constant_with_its_source():
    net = lenet()
    rep = price(sp.run(net, sp.poisson(np.full((1,) + INPUT_SHAPES["lenet"], 0.1), 4)), net, "loihi2018")
    text = rep.table()
    for c in rep.profile.provenance():
        assert c.source in text
    data = json.loads(rep.to_json())
    assert {c["source"] for c in data["profile"]["constants"]} == {c.source for c in rep.profile.provenance()}
    assert data["totals"]["snn"] == pytest.approx(rep.total())


def test_all_in_profile_is_never_combined_with_per_term_costs(tmp_path):
    path = tmp_path / "mixed.toml"
    path.write_text(_constant_toml("chip", "synaptic_op", 26e-12, scope="all-in")
                    + _constant_toml("chip", "spike", 1e-12))
    with pytest.raises(sp.FormatError, match=r"mixed\.toml: profile 'chip'.*all-in"):
        load_profiles(path)
    allin = Constant("synaptic_op", 26e-12, "s", "28 nm", "all-in", "measured")
    with pytest.raises(sp.ValidationError, match="all-in"):
        Profile("chip", "", {"synaptic_op": allin, "mac": Constant("mac", 1e-12, "s", "n", "per-term", "derived")})
    net = lenet()
    rep = price(sp.run(net, sp.poisson(np.full((1,) + INPUT_SHAPES["lenet"], 0.1), 4)), net, "truenorth")
    assert {t.term for t in rep.terms["snn"]} == {"synaptic ops (all-in)", "analog MACs"}
    assert rep.total() == pytest.approx(26e-12 * rep.counts.synaptic_events.sum())
    assert rep.terms["ann"] is None and "all-in" in rep.dense_reason


@pytest.mark.parametrize("body, match", [
    (_constant_toml("p", "synaptic_op", 1e-12).replace('source = "test"\n', ""),
     r"bad\.toml: profile 'p', constant 'synaptic_op': missing 'source'"),
    (_constant_toml("p", "synaptic_op", 1e-12, evidence="guessed"), r"constant 'synaptic_op': 'evidence' must be"),
    (_constant_toml("p", "synaptic_op", -1.0), r"'value' must be a number >= 0"),
    (_constant_toml("p", "synaptic_op", 1e-12) + _constant_toml("p", "teleport", 1e-12), r"unknown key 'teleport'"),
    (_constant_toml("p", "spike", 1e-12), r"bad\.toml: profile 'p': .*needs a 'synaptic_op'"),
    ("[p\nvalue = 1", r"bad\.toml: not valid TOML"),
])
def test_malformed_profile_file_names_file_and_key(tmp_path, body, match):
    path = tmp_path / "bad.toml"
    path.write_text(body)
    with pytest.raises(sp.FormatError, match=match):
        profile(path)


def test_profile_picked_from_a_file_of_several():
    from importlib import resources
    with resources.as_file(resources.files("spiking.energy") / "data" / "keras_spiking.toml") as path:
        assert profile(f"{path}:keras-gpu").get("mac") == pytest.approx(0.3e-9)
        with pytest.raises(sp.ValidationError, match="holds 6 profiles"):
            profile(path)


def test_unknown_profile_name_lists_the_choices():
    with pytest.raises(sp.ValidationError, match="loihi2018"):
        profile("loihi3")


def test_missing_constants_are_reported_not_zeroed():
    net = lenet()
    rep = price(sp.run(net, sp.poisson(np.full((1,) + INPUT_SHAPES["lenet"], 0.1), 4)), net, "loihi2018")
    missing = rep.unpriced()
    assert "weight fetch" in missing and "memory tiers" in missing["weight fetch"]
    assert rep.terms["ann"] is None and "mac" in rep.dense_reason
    assert "not priced" in rep.table()


def test_plot_writes_a_file(tmp_path):
    pytest.importorskip("matplotlib", reason="the plot needs matplotlib")
    net = lenet()
    rep = price(sp.run(net, sp.poisson(np.full((1,) + INPUT_SHAPES["lenet"], 0.1), 4)), net, "horowitz45-int8")
    for name in ("e.png", "e.pdf"):
        rep.plot(tmp_path / name)
        assert (tmp_path / name).stat().st_size > 1000


def test_layout_by_hand_for_cuba_sparse_and_pool_only():
    from spiking.energy.layout import layout

    net = sp.Network()
    net.input("in", (1, 4, 4))
    net.population("p", sp.IF(), (1, 2, 2))
    net.population("c", sp.CubaLIF(beta=0.5, v_leak=0.125, bias=0.25, reset="hard"), (3,))
    net.connect("in", "p", sp.SumPool2d(2), name="pool")
    net.connect("p", "c", [sp.Flatten(), sp.Sparse.from_dense([[1, 0, 0, 2], [0, 0, 0, 0], [0, 3, 0, 0]])],
                name="sparse")
    projections, populations = layout(net)
    assert projections["pool"].stored_weights == 0 and projections["pool"].synapses == 16
    assert projections["sparse"].stored_weights == 3 and projections["sparse"].synapses == 3
    assert projections["sparse"].dense_per_step == 12
    c = populations["c"]
    # integrate, compare, leak (v_leak + beta (v - v_leak): 2 adds, 1 mul), bias, synaptic decay (1 add, 1 mul)
    assert (c.adds, c.muls, c.reset_adds, c.state_words, c.ann_adds) == (6, 2, 0, 2, 2)
    assert (populations["p"].adds, populations["p"].muls, populations["p"].reset_adds) == (2, 0, 1)
    rep = price(sp.run(net, sp.spikes(np.ones((3, 1, 1, 4, 4), np.uint8))), net, "horowitz45-fp32")
    assert energy_of(rep, "pool", "weight fetch") == 0
    assert energy_of(rep, "pool", "synaptic ops") == pytest.approx(3 * 16 * 0.9e-12)


def test_counts_alone_price_the_same_and_must_match_the_network(hand_profile):
    net = hand_network()
    result = sp.run(net, hand_stimulus())
    assert price(result.counts, net, hand_profile).total() == price(result, net, hand_profile).total()
    with pytest.raises(sp.ValidationError, match="do not belong to this network"):
        price(result, lenet(), hand_profile)
    wider = sp.Network()                      # same names, other sizes: its prices would be another network's
    wider.input("in", (300,))
    wider.population("a", sp.LIF(beta=0.5, bias=0.25), (200,))
    wider.population("b", sp.IF(), (2,))
    wider.connect("in", "a", sp.Linear(np.ones((200, 300))), name="q1")
    wider.connect("a", "b", sp.Linear(np.ones((2, 200))), name="q2")
    with pytest.raises(sp.ValidationError, match=r"neuron updates per step \[0, 2, 2\] vs \[0, 200, 2\]"):
        price(result, wider, hand_profile)
    with pytest.raises(sp.ValidationError, match="reuse must be one of"):
        price(result, net, hand_profile, reuse="some")
