"""Event-camera data and embedded datasets, on numpy alone."""
from .events import EVENT_DTYPE, make_events, sensor_shape, validate_events
from .mnist import Digits, mnist_idx, mnist_subset, read_idx

__all__ = ["EVENT_DTYPE", "make_events", "sensor_shape", "validate_events", "Digits", "mnist_subset", "mnist_idx",
           "read_idx"]
