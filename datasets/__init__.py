"""Event-camera data: the event dtype and its validation, on numpy alone."""
from .events import EVENT_DTYPE, make_events, sensor_shape, validate_events

__all__ = ["EVENT_DTYPE", "make_events", "sensor_shape", "validate_events"]
