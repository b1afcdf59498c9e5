"""Wall-clock timing that is fair between peers: warm-up, then the best of several repeats."""
from __future__ import annotations

import time


def best_time(fn, min_repeats: int = 3, budget_s: float = 1.0, max_repeats: int = 20) -> float:
    """Smallest wall time of ``fn()`` over at least ``min_repeats`` calls (more while under ``budget_s``)."""
    times = []
    start = time.perf_counter()
    while len(times) < max_repeats and (len(times) < min_repeats or time.perf_counter() - start < budget_s):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


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
