"""Shared work as a graph of tasks, run in this process or on a Dask cluster.

A :class:`Task` is a call whose arguments may be other tasks. Tasks with equal functions and
arguments have equal keys and run once, whichever points need them: a trained model feeds every
point of its sweep, a converted network every timestep. ``run_tasks`` runs the leaves (one per
point) and hands each result to a callback as soon as it is ready.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property
from typing import Callable

from tqdm import tqdm

from ..errors import SpikingError


class SweepError(SpikingError):
    """Some points of a sweep failed; the finished ones are recorded."""


@dataclass(frozen=True, eq=False)
class Task:
    """The call ``fn(*args)``, with every Task among ``args`` replaced by its result."""

    fn: Callable
    args: tuple

    @cached_property
    def key(self) -> str:
        parts = [a.key if isinstance(a, Task) else repr(a) for a in self.args]
        digest = hashlib.sha1("\x00".join([self.fn.__module__, self.fn.__qualname__] + parts).encode()).hexdigest()
        return f"{self.fn.__name__}-{digest[:16]}"


def _local(task: Task, memo: dict):
    if task.key not in memo:
        memo[task.key] = task.fn(*(_local(a, memo) if isinstance(a, Task) else a for a in task.args))
    return memo[task.key]


def _submit(client, task: Task, futures: dict):
    if task.key not in futures:
        args = [_submit(client, a, futures) if isinstance(a, Task) else a for a in task.args]
        futures[task.key] = client.submit(task.fn, *args, key=task.key, pure=False)
    return futures[task.key]


def run_tasks(leaves: dict, done: Callable, client=None, progress: bool = True, finished: int = 0) -> None:
    """Run the tasks ``leaves`` (``{name: Task}``) and call ``done(name, result)`` for each as it ends.

    Without ``client`` they run here in order; with a ``distributed.Client`` they run on its
    workers, shared tasks once. A failing leaf does not stop the others: the error of the first is
    raised as :class:`SweepError` once all have ended. ``finished``: points already done before,
    for the progress bar.
    """
    failed = []
    with tqdm(total=finished + len(leaves), initial=finished, desc="sweep", unit="point",
              disable=not progress) as bar:
        if client is None:
            memo = {}
            for name, task in leaves.items():
                try:
                    result = _local(task, memo)
                except Exception as e:  # noqa: BLE001 - recorded, raised after the other points
                    failed.append((name, e))
                else:
                    done(name, result)
                bar.update()
        else:
            from distributed import as_completed

            futures = {}
            names = {_submit(client, task, futures): name for name, task in leaves.items()}
            for future in as_completed(list(names)):
                if future.status == "error":
                    failed.append((names[future], future.exception()))
                else:
                    done(names[future], future.result())
                bar.update()
    if failed:
        name, error = failed[0]
        raise SweepError(f"{len(failed)} of {len(leaves)} points failed; first: {name}: "
                         f"{type(error).__name__}: {error}") from error
