"""Sparse stimulus rows scattered into dense frames (for the dense reference backend)."""
from numba import njit


@njit(cache=True)
def scatter_rows(ptr, index, value, out):
    """``out[row, index[k]] = value[k]`` for the entries ``ptr[row]:ptr[row + 1]`` of every row."""
    for row in range(len(ptr) - 1):
        target = out[row]
        for k in range(ptr[row], ptr[row + 1]):
            target[index[k]] = value[k]
