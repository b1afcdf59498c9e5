"""Interoperability: snnTorch models and NIR graphs in, NIR out, and a torch module for inference."""
from .module import SpikingModule
from .nir import from_nir, read_nir, to_nir, write_nir
from .snntorch import from_snntorch

__all__ = ["from_snntorch", "from_nir", "to_nir", "read_nir", "write_nir", "SpikingModule"]
