"""Wall-clock timing that is fair between peers: the best of warm repeats, taken in rounds."""
from __future__ import annotations

import time


def best_times(fns, min_repeats: int = 3, budget_s: float = 1.0, max_repeats: int = 20) -> list[float]:
    """Smallest wall time of each of ``fns``, taken in rounds.

    In every round each function runs twice in a row and the second call is timed: each contestant
    is measured with its own data warm in the caches, as in a loop over batches, while the rounds
    give all of them the same share of a noisy machine (a shared VM's other tenants).
    """
    times = [[] for _ in fns]
    start = time.perf_counter()
    while len(times[0]) < max_repeats and (len(times[0]) < min_repeats or time.perf_counter() - start < budget_s):
        for fn, record in zip(fns, times):
            fn()
            t0 = time.perf_counter()
            fn()
            record.append(time.perf_counter() - t0)
    return [min(record) for record in times]


def linear_fit(x, y) -> dict:
    """Least-squares ``y = intercept + slope * x`` with its coefficient of determination."""
    import numpy as np

    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    slope, intercept = np.polyfit(x, y, 1)
    residual = y - (intercept + slope * x)
    total = ((y - y.mean()) ** 2).sum()
    r2 = 1.0 - (residual ** 2).sum() / total if total > 0 else 1.0
    return {"slope": float(slope), "intercept": float(intercept), "r2": float(r2)}
