"""Run a sweep: plan the shared stages of every point, skip the finished ones, record each as it ends."""
from __future__ import annotations

import contextlib

from ..energy.profiles import profile
from ..errors import ValidationError
from .grid import POINT_COLUMNS, Grid
from .store import Store
from .tasks import Task, run_tasks

DEFAULTS = dict(
    model="lenet", dataset="mnist-subset", train_images=None, epochs=15, seed=0,
    scope="global", prune_steps=3, finetune_epochs=1,
    calibration=1000, percentile=99.9, per_channel=False,
    test_images=None, time_images=200, repeats=2, batch_size=100,
    profiles=("loihi2018", "horowitz45-fp32", "horowitz45-int8"),
)
"""The settings of a sweep besides its grid. ``train_images``/``test_images``: how many of the
dataset's images to train and test on (None: all); ``time_images``: how many test images the timed
runs use, best of ``repeats``; the percentile applies where the activity knob is not the percentile.
A results file belongs to one set of settings."""


def settings_for(**overrides) -> dict:
    """``DEFAULTS`` with ``overrides``, checked."""
    unknown = sorted(set(overrides) - set(DEFAULTS))
    if unknown:
        raise ValidationError(f"unknown sweep settings {unknown}; known: {sorted(DEFAULTS)}")
    settings = {**DEFAULTS, **overrides}
    settings["profiles"] = tuple(settings["profiles"])
    if not settings["profiles"]:
        raise ValidationError("a sweep needs at least one energy profile")
    for name in settings["profiles"]:
        profile(name)
    return settings


def plan(grid: Grid, settings: dict) -> dict:
    """``{point: Task}``: each point's row, through stages shared with the points that need the same."""
    from . import stages  # torch, numba and the converter: only where points are planned

    tasks = {}
    for point in grid.points():
        knob, level = point.activity.knob, point.activity.level
        model = Task(stages.train, (settings, level if knob == "penalty" else 0.0))
        if point.sparsity > 0:
            model = Task(stages.prune, (settings, model, point.sparsity))
        percentile = level if knob == "percentile" else settings["percentile"]
        built = Task(stages.build, (settings, model, point.bits, percentile))
        measured = Task(stages.measure, (settings, built, grid.steps))
        tasks[point] = Task(stages.row, (settings, point, built, measured))
    return tasks


def sweep(path, grid: Grid = Grid(), settings: dict | None = None, *, client=None, progress: bool = True) -> list:
    """Run the points of ``grid`` missing from the results file ``path`` and return the grid's rows.

    ``settings``: from :func:`settings_for` (default: ``DEFAULTS``). ``client``: a
    ``distributed.Client`` to run the points on its workers; None runs them here, one by one.
    Each finished point is written to ``path`` at once; a restart computes only the missing ones.
    """
    settings = settings or settings_for()
    store = Store(path, settings, POINT_COLUMNS)
    tasks = plan(grid, settings)
    missing = {point: task for point, task in tasks.items() if point.columns not in store}
    run_tasks(missing, lambda point, row: store.add(row), client, progress, finished=len(tasks) - len(missing))
    return store.rows([point.columns for point in tasks])


@contextlib.contextmanager
def dask_client(scheduler: str | None = None, workers: int = 2):
    """A client of the cluster at ``scheduler``, or of a local cluster of ``workers`` processes with
    one thread each, closed on leaving."""
    from distributed import Client, LocalCluster

    if scheduler is not None:
        with Client(scheduler) as client:
            yield client
        return
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        yield client
