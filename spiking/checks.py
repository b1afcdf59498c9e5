"""The check of whole numbers a user gives (steps, sizes, delays, times): one rule and one message."""
from __future__ import annotations

import numpy as np

from .errors import ValidationError

MAX_WHOLE = 2 ** 62
"""Default bound on a whole number: the sum or difference of two stays within int64."""


def whole_number(value, name: str, low: int, high: int = MAX_WHOLE) -> int:
    """``value`` as an int, or a ``ValidationError`` unless it is a whole number in ``[low, high]``.

    Integers of any size are compared as Python ints; floats must be finite; bools are refused.
    """
    integer = isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
    finite = isinstance(value, (float, np.floating)) and np.isfinite(value) and int(value) == value
    if not ((integer or finite) and low <= int(value) <= high):
        raise ValidationError(f"{name} must be a whole number in [{_power(low)}, {_power(high)}], got {value!r}")
    return int(value)


def _power(bound: int) -> str:
    return {MAX_WHOLE: "2**62", -MAX_WHOLE: "-2**62"}.get(bound, str(bound))
