"""Sweeps: accuracy, synaptic events, energy and time over weight sparsity, weight bits, activity and
timesteps, with shared stages computed once, results written as each point ends, and Dask to scale out.

``sweep("results.csv", Grid(sparsities=(0, 0.9), bits=(32, 8)), client=client)`` returns a row
(a dict) per point; ``plots.plot_all(rows, "docs", "horowitz45-fp32")`` draws the figures.
"""
from .grid import Activity, Grid, Point
from .run import DEFAULTS, dask_client, settings_for, sweep
from .store import Store
from .tasks import SweepError, Task

__all__ = ["sweep", "Grid", "Point", "Activity", "Store", "Task", "SweepError", "DEFAULTS", "settings_for",
           "dask_client"]
