"""The network as data: populations, projections and their operations, and HDF5 storage."""
from .graph import Network, Population, Projection
from .io import load, save
from .ops import AvgPool2d, Conv2d, Flatten, Linear, MaxPool2d, Sparse, SumPool2d

__all__ = ["Network", "Population", "Projection", "Linear", "Sparse", "Conv2d", "AvgPool2d", "SumPool2d", "MaxPool2d", "Flatten",
           "save", "load"]
