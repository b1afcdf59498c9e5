"""spiking: event-driven spiking networks on CPU, with exact event counts and honest energy figures."""
from .counts import Counts
from .errors import ConversionError, FormatError, SpikingError, ValidationError
from .network import AvgPool2d, Conv2d, Flatten, Linear, Network, Sparse, SumPool2d, load, save
from .neurons import IF, LIF, CubaLIF
from .runtime import RunResult, Stimulus, compile_network, currents, poisson, run, spikes
from .runtime.events import events_to_stimulus

__version__ = "0.1.0"
__all__ = ["Network", "Linear", "Sparse", "Conv2d", "AvgPool2d", "SumPool2d", "Flatten", "IF", "LIF", "CubaLIF",
           "run", "RunResult", "Stimulus", "spikes", "currents", "poisson", "compile_network", "Counts", "save", "load",
           "SpikingError", "ValidationError", "FormatError", "ConversionError", "events_to_stimulus"]
