"""Event-camera data and embedded datasets, on numpy alone."""
from .events import EVENT_DTYPE, make_events, sensor_shape, validate_events
from .formats.base import Recording
from .formats.detect import detect, read
from .hdf5 import read_events, read_sample, write_events
from .mnist import Digits, mnist_idx, mnist_subset, read_idx
from .stream import EventStream, stream

__all__ = ["EVENT_DTYPE", "make_events", "sensor_shape", "validate_events", "Digits", "mnist_subset", "mnist_idx",
           "read_idx", "Recording", "read", "detect", "write_events", "read_events", "read_sample", "stream",
           "EventStream"]
