"""Event-camera data and embedded datasets, on numpy alone."""
from .events import EVENT_DTYPE, make_events, sensor_shape, validate_events
from .emulator import DVS, emulate, emulate_log
from .formats.base import Recording
from .formats.detect import detect, read
from .hdf5 import read_events, read_sample, write_events
from .mnist import Digits, mnist_idx, mnist_subset, read_idx
from .nmnist_synth import load_synthetic_nmnist, make_synthetic_nmnist, synthesize
from .stream import EventStream, stream
from .transforms import (center_crop, crop, denoise, downsample, flip_lr, flip_polarity, flip_ud, refractory_filter,
                         to_frames)

__all__ = ["EVENT_DTYPE", "make_events", "sensor_shape", "validate_events", "Digits", "mnist_subset", "mnist_idx",
           "read_idx", "Recording", "read", "detect", "write_events", "read_events", "read_sample", "stream",
           "EventStream", "to_frames", "denoise", "refractory_filter", "downsample", "crop", "center_crop", "flip_lr",
           "flip_ud", "flip_polarity", "DVS", "emulate", "emulate_log", "synthesize", "make_synthetic_nmnist",
           "load_synthetic_nmnist"]
