"""Energy: hardware cost tables with provenance, pricing of a run's counts, dense equivalents, meters.

``price(run(net, stimulus), net, profile("loihi"))`` returns a :class:`Report`.
"""
from .meters import Measurement, measure
from .neurobench import neurobench_counts
from .pricing import price
from .profiles import Constant, MemoryTier, Profile, builtin_profiles, load_profiles, profile
from .report import BreakEven, Report

__all__ = ["price", "profile", "load_profiles", "builtin_profiles", "Profile", "Constant", "MemoryTier", "Report",
           "BreakEven", "measure", "Measurement", "neurobench_counts"]
