"""One exception family for everything `spiking` refuses to do."""


class SpikingError(Exception):
    """Base class of every error raised by `spiking`."""


class ValidationError(SpikingError, ValueError):
    """A network, parameter or input is malformed; the message names the layer and what was expected."""


class FormatError(SpikingError, ValueError):
    """A file's contents are not what its format requires; the message names the file and offset."""


class ConversionError(SpikingError):
    """A model cannot be converted; the message names the node and what to change."""
