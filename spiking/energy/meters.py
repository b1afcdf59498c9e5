"""Measured energy: a context manager around any run, reading NVML on a GPU or RAPL on a CPU.

Both are cumulative counters read at the window's ends: NVML's total energy (mJ since the driver
loaded, after ``torch.cuda.synchronize()``), or RAPL's ``energy_uj`` files under
``/sys/class/powercap`` (wrapping at ``max_energy_range_uj``). The idle draw is measured with the same
counter over an idle window first and subtracted. Where neither counter can be read the measurement
says so and carries no number: nothing is estimated in its place.
"""
from __future__ import annotations

import re
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import SpikingError, ValidationError

POWERCAP = "/sys/class/powercap"
SOURCES = ("auto", "nvml", "rapl")


@dataclass(frozen=True)
class Measurement:
    """Joules over one window; ``joules is None`` with a ``reason`` where no counter could be read."""

    source: str
    seconds: float
    joules: float | None = None
    idle_watts: float | None = None
    reason: str = ""

    @property
    def available(self) -> bool:
        return self.joules is not None

    @property
    def idle_joules(self) -> float | None:
        return None if self.idle_watts is None else self.idle_watts * self.seconds

    @property
    def active_joules(self) -> float | None:
        """Joules above the idle draw."""
        return None if self.joules is None or self.idle_watts is None else self.joules - self.idle_joules

    def describe(self) -> str:
        if not self.available:
            return f"unavailable: {self.reason}"
        idle = "" if self.idle_watts is None else f", {self.active_joules:.4g} J above idle ({self.idle_watts:.3g} W)"
        return f"{self.joules:.4g} J total over {self.seconds:.3g} s{idle} ({self.source})"

    def to_dict(self) -> dict:
        return dict(asdict(self), available=self.available, active_joules=self.active_joules)


class RaplCounter:
    """Package-level RAPL domains (``intel-rapl:N``) under a powercap directory."""

    name = "RAPL"

    def __init__(self, root=POWERCAP):
        root = Path(root)
        self.domains = sorted(d for d in root.glob("intel-rapl:*") if re.fullmatch(r"intel-rapl:\d+", d.name))
        if not self.domains:
            raise SpikingError(f"RAPL: no intel-rapl package domains under {root}")
        try:
            self.ranges = [int((d / "max_energy_range_uj").read_text()) for d in self.domains]
            self.read()
        except PermissionError:
            raise SpikingError(f"RAPL: {self.domains[0] / 'energy_uj'} is not readable (root-only since Linux 5.10; "
                               "grant read access to measure)") from None
        except (OSError, ValueError) as e:
            raise SpikingError(f"RAPL: cannot read {self.domains[0]}: {e}") from None
        self.source = "RAPL " + ", ".join(_label(d) for d in self.domains)

    def read(self) -> list[int]:
        return [int((d / "energy_uj").read_text()) for d in self.domains]

    def joules(self, start: list[int], end: list[int]) -> float:
        """Energy between two reads; a counter that went down wrapped once at its range."""
        total = 0
        for s, e, r in zip(start, end, self.ranges):
            total += e - s if e >= s else e + r - s
        return total / 1e6


def _label(domain: Path) -> str:
    try:
        return (domain / "name").read_text().strip()
    except OSError:
        return domain.name


class NvmlCounter:
    """NVML's total-energy counter of one GPU (Volta or newer), in mJ."""

    name = "NVML"

    def __init__(self, index: int = 0):
        try:
            import pynvml
        except ImportError:
            raise SpikingError("NVML: pynvml is not installed (pip install nvidia-ml-py)") from None
        try:
            pynvml.nvmlInit()
            self.handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            self._read = lambda: pynvml.nvmlDeviceGetTotalEnergyConsumption(self.handle)
            self._read()
            name = pynvml.nvmlDeviceGetName(self.handle)
        except pynvml.NVMLError as e:
            raise SpikingError(f"NVML: cannot read GPU {index}'s energy counter: {e}") from None
        self.source = f"NVML GPU {index} ({name.decode() if isinstance(name, bytes) else name})"

    def read(self) -> list[int]:
        _synchronize()
        return [self._read()]

    def joules(self, start: list[int], end: list[int]) -> float:
        return (end[0] - start[0]) / 1e3


def _synchronize() -> None:
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.synchronize()


def open_counter(source: str = "auto", powercap=POWERCAP, gpu: int = 0):
    """The first readable counter of ``source`` (``auto``: NVML, then RAPL); raises SpikingError saying why not."""
    if source not in SOURCES:
        raise ValidationError(f"meter source must be one of {SOURCES}, got {source!r}")
    makers = {"nvml": lambda: NvmlCounter(gpu), "rapl": lambda: RaplCounter(powercap)}
    reasons = []
    for key in (("nvml", "rapl") if source == "auto" else (source,)):
        try:
            return makers[key]()
        except SpikingError as e:
            reasons.append(str(e))
    raise SpikingError("; ".join(reasons))


class measure:
    """``with measure() as m: run(...)``; afterwards ``m.result`` is the :class:`Measurement`.

    ``idle_seconds`` of idle draw are measured first with the same counter (0 to skip). Counters
    update every 10-100 ms: repeat short workloads inside the window until it lasts seconds.
    """

    def __init__(self, source: str = "auto", idle_seconds: float = 1.0, powercap=POWERCAP, gpu: int = 0):
        if source not in SOURCES:
            raise ValidationError(f"meter source must be one of {SOURCES}, got {source!r}")
        self.source, self.idle_seconds, self.powercap, self.gpu = source, idle_seconds, powercap, gpu
        self.result: Measurement | None = None

    def __enter__(self):
        try:
            self._counter = open_counter(self.source, self.powercap, self.gpu)
        except SpikingError as e:
            self._counter, self._reason = None, str(e)
        self._idle = None
        if self._counter is not None and self.idle_seconds > 0:
            a, t = self._counter.read(), time.perf_counter()
            time.sleep(self.idle_seconds)
            b, dt = self._counter.read(), time.perf_counter() - t
            self._idle = self._counter.joules(a, b) / dt
        self._start = None if self._counter is None else self._counter.read()
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        if self._counter is None:
            self.result = Measurement("none", time.perf_counter() - self._t0, reason=self._reason)
            return False
        end = self._counter.read()
        seconds = time.perf_counter() - self._t0
        self.result = Measurement(self._counter.source, seconds, self._counter.joules(self._start, end), self._idle)
        return False

    @property
    def joules(self) -> float | None:
        return None if self.result is None else self.result.joules
