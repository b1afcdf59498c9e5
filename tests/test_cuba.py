"""The CUBA benchmark (``examples/cuba.py``) against Brian2's model, and the two backends on it.

Reference values come from outside the runtime: the exact solution of Brian2's equations
(``../shared/reference/neuron-semantics.md`` section 5) worked out here in float64, and Brian2's own
firing rate over the first 0.2 s (``../shared/tools/brian2_cuba.py`` with ``run(0.2*second)``,
seeds 1-8: 5.69, 5.76, 5.99, 5.94, 5.89, 5.84, 6.02, 5.71 Hz; mean 5.86 Hz).
"""
import dataclasses
import importlib.util
import math
from pathlib import Path

import numpy as np

import spiking as sp
from helpers import assert_identical, run_both

_spec = importlib.util.spec_from_file_location("cuba", Path(__file__).resolve().parents[1] / "examples" / "cuba.py")
cuba = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cuba)

BRIAN2_RATE_02S = 5.86  # Hz, mean of the eight seeds above


def brian2_psp(w: float, tau_s: float, steps: int) -> np.ndarray:
    """Brian2's membrane (relative to rest) after updates 0..steps-1 when a spike adds ``w`` at step -1.

    Exact solution of tau_m dv/dt = g - v, g = w exp(-t / tau_s): v(t) = w tau_s / (tau_s - tau_m)
    (exp(-t / tau_s) - exp(-t / tau_m)); the update of step n ends at t = (n + 1) dt.
    """
    t = (np.arange(steps) + 1) * cuba.DT
    return w * tau_s / (tau_s - cuba.TAU_M) * (np.exp(-t / tau_s) - np.exp(-t / cuba.TAU_M))


def psp(weight: float, steps: int, receptor: str = "exc") -> np.ndarray:
    """Our membrane after each step when one input spike at step 0 reaches a CUBA neuron at rest."""
    neuron = dataclasses.replace(cuba.cuba_neuron(0.0), v_leak=0.0)
    net = sp.Network()
    net.input("in", (1,))
    net.population("n", neuron, (1,))
    net.connect("in", "n", sp.Linear(np.array([[weight]], np.float32)), receptor=receptor)
    x = np.zeros((steps, 1, 1), np.uint8)
    x[0] = 1
    return sp.run(net, sp.spikes(x), record_membrane=True).membrane_trace[:, 0, 0].astype(np.float64)


def test_inhibitory_psp_is_brian2s_exact_solution():
    steps = 2000
    ours = psp(cuba.synaptic_weights()[1], steps, receptor="inh")
    exact = brian2_psp(cuba.W_I, cuba.TAU_I, steps)
    assert exact.min() < -2.0                                  # a PSP of about -2.25 mV, not a flat line
    np.testing.assert_allclose(ours, exact, rtol=1e-4, atol=1e-5)


def test_excitatory_psp_is_brian2s_exact_solution():
    steps = 2000
    ours = psp(cuba.synaptic_weights()[0], steps)
    exact = brian2_psp(cuba.W_E, cuba.TAU_E, steps)
    assert exact.max() > 0.25                                  # a PSP of about +0.3 mV
    np.testing.assert_allclose(ours, exact, rtol=1e-4, atol=1e-5)


def test_isolated_neuron_fires_on_brian2s_schedule():
    # From reset (v' = 0) the membrane relaxes towards E_l - V_r = 11 mV; the m-th integrating update
    # gives 11 (1 - beta^m). Brian2 holds v for 5 ms = 50 steps after a spike at step k and integrates
    # again from step k + 50, so spikes fall at m* - 1 and then every 49 + m* steps.
    beta = math.exp(-cuba.DT / cuba.TAU_M)
    leak, thr = cuba.E_L - cuba.V_R, cuba.V_T - cuba.V_R
    m_star = next(m for m in range(1, 10_000) if leak * (1 - beta ** m) > thr)
    expected = [m_star - 1 + j * (49 + m_star) for j in range(4)]
    net = sp.Network()
    net.population("n", cuba.cuba_neuron(0.0), (1,))
    steps = expected[-1] + 10
    res = sp.run(net, steps=steps, record=["n"])
    assert np.flatnonzero(res.recorded["n"][:, 0, 0]).tolist() == expected


def test_rate_matches_brian2_over_200_ms():
    steps = 2000
    net = cuba.cuba_network(seed=1)
    res = sp.run(net, steps=steps, record=["P"])
    rate = cuba.mean_rate(res, 4000, steps * cuba.DT / 1000)
    assert abs(rate - BRIAN2_RATE_02S) < 0.1 * BRIAN2_RATE_02S, rate
    # Synaptic events (reference section 5): every spike times its neuron's out-degree; spikes of
    # the last step would arrive after the run.
    spikes = res.recorded["P"][:-1, 0].sum(axis=0).astype(np.int64)
    out_degree = sum(np.diff(proj.ops[0].pre_ptr) for proj in net.projections.values())
    assert res.counts.synaptic_events.sum() == spikes @ out_degree


def test_event_matches_dense_on_small_cuba():
    # 200 neurons with p = 0.4 keep CUBA's ~80 inputs per neuron; dyadic weights close to the mapped
    # ones (0.0040, -0.0447) make every sum of currents exact, so the backends must agree bit for bit.
    net = cuba.cuba_network(n=200, p=0.4, seed=3, weights=(1 / 256, -11 / 256))
    ev, de = run_both(net, None, steps=2000, batch=1)
    assert_identical(ev, de)
    assert 2.0 < ev.output_spikes.sum() / 200 / 0.2 < 20.0    # irregular activity, not silence or a burst
