"""numba kernels on plain arrays: the fused whole-run loop and event-stream transforms."""
