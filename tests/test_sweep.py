"""Sweeps: the grid, the results file, shared stages, resuming after an interruption, Dask, plots."""
from __future__ import annotations

import importlib.util
import json

import numpy as np
import torch
import pytest

from spiking.cli import main as cli_main
from spiking.convert import evaluate
from spiking.energy import price
from spiking.errors import FormatError, ValidationError
from spiking.sweep import stages
from spiking.sweep.grid import POINT_COLUMNS, Activity, Grid
from spiking.sweep.plots import crossing, pareto
from spiking.sweep.run import settings_for, sweep
from spiking.sweep.store import Store
from spiking.sweep.tasks import SweepError, Task, run_tasks

TIMES = ("event_s", "dense_s")
# A few seconds of work: a small grid on few images, every stage exercised (training, pruning with
# fine-tuning, conversion, quantization, prefixes of one run).
TINY = dict(train_images=400, epochs=1, finetune_epochs=1, prune_steps=1, calibration=100, test_images=60,
            time_images=20, repeats=1, batch_size=30)
GRID = Grid(sparsities=(0.0, 0.5), bits=(32, 8), activities=("percentile=99", "percentile=99.9"), steps=(2, 4))
ARGS = ["--sparsity", "0", "0.5", "--bits", "32", "8", "--activity", "percentile=99", "percentile=99.9",
        "--steps", "2", "4", "--train-images", "400", "--epochs", "1", "--finetune-epochs", "1", "--prune-steps",
        "1", "--calibration", "100", "--test-images", "60", "--time-images", "20", "--repeats", "1"]


def _untimed(rows):
    return [{k: v for k, v in r.items() if k not in TIMES} for r in rows]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The tiny grid run serially through the command line, with its figures."""
    folder = tmp_path_factory.mktemp("sweep")
    figures = ["--plots", str(folder / "figures")] if importlib.util.find_spec("matplotlib") else []
    cli_main(["sweep", str(folder / "results.csv"), "--serial"] + figures + ARGS + ["--batch-size", "30"])
    store = Store(folder / "results.csv", settings_for(**TINY), POINT_COLUMNS)
    return folder, store.rows([p.columns for p in GRID.points()])


# -- grid -----------------------------------------------------------------------------------------

def test_grid_runs_timesteps_innermost():
    points = GRID.points()
    assert len(points) == 16
    assert [p.steps for p in points[:4]] == [2, 4, 2, 4]
    assert points[0].columns == (0.0, 32, "percentile", 99.0, 2)
    assert points[-1].columns == (0.5, 8, "percentile", 99.9, 4)


@pytest.mark.parametrize("text, match", [("percentile", "KNOB=NUMBER"), ("speed=3", "knob must be one of"),
                                         ("percentile=101", r"\(0, 100\]"), ("penalty=-1", ">= 0")])
def test_activity_parse_errors(text, match):
    with pytest.raises(ValidationError, match=match):
        Activity.parse(text)


@pytest.mark.parametrize("axes, match", [(dict(sparsities=(1.0,)), "sparsities"), (dict(bits=(1,)), "bits"),
                                         (dict(steps=(4, 4)), "repeats"), (dict(steps=()), "empty")])
def test_grid_errors(axes, match):
    with pytest.raises(ValidationError, match=match):
        Grid(**axes)


def test_settings_errors():
    with pytest.raises(ValidationError, match=r"unknown sweep settings \['epoch'\]"):
        settings_for(epoch=3)
    with pytest.raises(ValidationError, match="no built-in profile 'loihi9'"):
        settings_for(profiles=("loihi9",))


# -- results file ---------------------------------------------------------------------------------

def test_store_round_trip_and_order(tmp_path):
    path = tmp_path / "r.csv"
    store = Store(path, {"a": (1, 2)}, ("x", "name"))
    rows = [dict(x=0.5, name="b", n=3, e=1e-12, none=None), dict(x=0.1, name="a", n=-1, e=0.1 + 0.2, none=None)]
    for r in rows:
        store.add(r)
    with pytest.raises(ValidationError, match="row columns"):
        store.add(dict(x=0.2, name="c"))
    assert [p.name for p in tmp_path.iterdir()] == ["r.csv"]  # no temporary file left behind
    again = Store(path, {"a": [1, 2]}, ("x", "name"))
    assert again.rows() == [rows[1], rows[0]]  # sorted by the point columns, values exact
    assert (0.5, "b") in again and (0.5, "a") not in again
    assert path.read_text().splitlines()[0] == '# spiking sweep {"a": [1, 2]}'


def test_store_refuses_other_settings_and_bad_files(tmp_path):
    path = tmp_path / "r.csv"
    Store(path, {"epochs": 1}, ("x",)).add(dict(x=1, y=2))
    with pytest.raises(ValidationError, match="other settings \\(epochs\\)"):
        Store(path, {"epochs": 2}, ("x",))
    path.write_text("x,y\n1,2\n")
    with pytest.raises(FormatError, match="line 1: expected '# spiking sweep'"):
        Store(path, {}, ("x",))
    path.write_text('# spiking sweep {"epochs": 1}\nx,y\n1,2,3\n')
    with pytest.raises(FormatError, match="line 3: 3 fields, expected 2"):
        Store(path, {"epochs": 1}, ("x",))
    with pytest.raises(FormatError, match="missing the point columns \\['z'\\]"):
        Store(path, {"epochs": 1}, ("z",))


# -- tasks ----------------------------------------------------------------------------------------

CALLS = []


def _double(x):
    CALLS.append(x)
    return 2 * x


def _add(a, b):
    if b == 3:
        raise ArithmeticError("three")
    return a + b


def test_shared_tasks_run_once_and_failures_wait_for_the_rest():
    CALLS.clear()
    shared = Task(_double, (5,))
    leaves = {b: Task(_add, (Task(_double, (5,)), b)) for b in (1, 2, 3, 4)}
    assert leaves[1].args[0].key == shared.key
    done = {}
    with pytest.raises(SweepError, match="1 of 4 points failed; first: 3: ArithmeticError: three"):
        run_tasks(leaves, done.__setitem__, progress=False)
    assert CALLS == [5]
    assert done == {1: 11, 2: 12, 4: 14}


# -- the sweep ------------------------------------------------------------------------------------

def test_rows_match_a_separate_run_of_each_timestep():
    """A row at T = 2 comes from the first steps of the T = 4 run: it must equal a run of 2 steps."""
    settings = settings_for(**TINY)
    model = stages.prune(settings, stages.train(settings, 0.0), 0.5)
    built = stages.build(settings, model, 8, 99.0)
    measured = stages.measure(settings, built, (2, 4))
    point = Grid(sparsities=(0.5,), bits=(8,), activities=("percentile=99",), steps=(2, 4)).points()[0]
    row = stages.row(settings, point, built, measured)
    x, y = stages.test_data(settings)
    alone = evaluate(built.converted, x, y, (2,))
    assert row["accuracy"] == alone.accuracy[2]
    assert row["synaptic_events"] == alone.synaptic_events[2]
    assert row["input_macs"] == alone.effective_macs[2]
    report = price(alone.counts, built.converted.network, "horowitz45-fp32")
    assert row["horowitz45-fp32:compute_j"] == pytest.approx(report.compute_only, rel=1e-12)
    # 8-bit weights are fetched as 8-bit words: less memory energy than the profile's 32-bit fetches
    assert row["horowitz45-fp32:total_j"] < report.total()
    # NeuroBench Dense per step, by hand: conv 16x24x24x25, pool+conv 32x8x8x(16x25), 512x128, 128x10
    assert row["dense_macs"] == 2 * (16 * 24 * 24 * 25 + 32 * 8 * 8 * 16 * 25 + 512 * 128 + 128 * 10)
    assert 0.5 <= row["weight_sparsity"] < 0.6  # pruned half; 8-bit rounding zeroes a few more


def test_cli_sweep_writes_rows_and_figures(reference):
    folder, rows = reference
    assert len(rows) == 16
    assert {(r["sparsity"], r["bits"], r["level"], r["steps"]) for r in rows} == {
        p.columns[:2] + p.columns[3:] for p in GRID.points()}
    first = next(r for r in rows if r["sparsity"] == 0.0 and r["bits"] == 32)
    assert first["weight_sparsity"] == 0.0
    for r in rows:
        assert r["synaptic_events"] <= r["dense_macs"] and 0 <= r["accuracy"] <= 1
    pytest.importorskip("matplotlib", reason="the figures need matplotlib")
    for stem in ("accuracy_energy", "energy_time_activity", "events_sparsity"):
        assert (folder / "figures" / f"sweep_{stem}.png").read_bytes()[:4] == b"\x89PNG"
        assert (folder / "figures" / f"sweep_{stem}.pdf").read_bytes()[:4] == b"%PDF"


def test_interrupted_sweep_resumes_with_only_the_missing_points(reference, tmp_path, monkeypatch):
    _, expected = reference
    settings = settings_for(**TINY)
    path = tmp_path / "results.csv"
    real_row, calls = stages.row, []

    def interrupted(settings, point, built, measured):
        if len(calls) == 5:
            raise KeyboardInterrupt  # killed while computing the sixth point
        calls.append(point)
        return real_row(settings, point, built, measured)

    monkeypatch.setattr(stages, "row", interrupted)
    with pytest.raises(KeyboardInterrupt):
        sweep(path, GRID, settings, progress=False)
    finished = Store(path, settings, POINT_COLUMNS)
    assert len(finished) == 5 and all(p.columns in finished for p in calls)

    resumed = []
    monkeypatch.setattr(stages, "row", lambda *args: resumed.append(args[1]) or real_row(*args))
    rows = sweep(path, GRID, settings, progress=False)
    assert resumed == GRID.points()[5:]
    assert _untimed(rows) == _untimed(expected)
    assert json.loads(path.read_text().splitlines()[0][len("# spiking sweep "):])["epochs"] == 1


def test_dask_local_cluster_matches_the_serial_run(reference, tmp_path):
    distributed = pytest.importorskip("distributed", reason="Dask distributed is an optional dependency")
    _, expected = reference
    grid = Grid(sparsities=(0.0, 0.5), bits=(8,), activities=("percentile=99",), steps=(2, 4))
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        rows = sweep(tmp_path / "results.csv", grid, settings_for(**TINY), client=client, progress=False)
    assert _untimed(rows) == _untimed([r for r in expected if r["level"] == 99.0 and r["bits"] == 8])


# -- plots ----------------------------------------------------------------------------------------

def test_pareto_front_by_hand():
    energy = [3.0, 1.0, 2.0, 2.0, 4.0, 1.0]
    acc = [0.9, 0.5, 0.7, 0.8, 0.9, 0.4]
    # cheapest first: (1, 0.5) beats (1, 0.4); (2, 0.8) beats (2, 0.7); (3, 0.9); (4, 0.9) is dominated
    assert pareto(energy, acc).tolist() == [1, 3, 0]


def test_crossing_by_hand():
    a, b, x = crossing([0.0, 1.0, 2.0], [1.0, 3.0, 5.0], 4.0)
    assert (a, b, x) == pytest.approx((1.0, 2.0, 1.5))
    assert np.isnan(crossing([0.0, 1.0], [1.0, 3.0], np.nan)[2])


def test_penalty_knob_trains_with_the_regularizer_and_detaches_it():
    settings = settings_for(**{**TINY, "train_images": 200})
    plain, penalized = stages.train(settings, 0.0), stages.train(settings, 0.5)
    assert not any(m._forward_hooks for m in penalized.modules())
    x = torch.from_numpy(stages.test_data(settings)[0])

    @torch.no_grad()
    def mean_relu_outputs(model):
        return sum(float(model[:k + 1](x).mean()) for k, m in enumerate(model) if isinstance(m, torch.nn.ReLU))

    assert mean_relu_outputs(penalized) < mean_relu_outputs(plain)  # the L1 penalty on ReLU outputs
