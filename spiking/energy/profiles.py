"""Hardware cost tables as data: every constant with its source, process node, scope and evidence.

A profile file is TOML: each top-level table is one profile, named by its key::

    [my-chip]
    description = "what it is"
    weight_bits = 8            # optional: bits per stored weight (memory traffic)
    state_bits = 16            # optional: bits per neuron state word (memory traffic)

    [my-chip.synaptic_op]      # one constant; see CONSTANTS for the names and units
    value = 1.5e-12
    source = "who published it, where"
    node = "22 nm"
    scope = "per-term"         # or "all-in" (includes memory, leakage, ...): never combined
    evidence = "measured"      # or "simulated" or "derived"

    [[my-chip.memory]]         # memory tiers, smallest first; a layer's data sits in the
    name = "SRAM 32 KB"        # smallest tier that holds it
    capacity_bytes = 32768     # inf for DRAM
    access_bits = 64           # bits per access priced by `value`
    value = 20e-12
    source = "..."; node = "..."; scope = "per-term"; evidence = "simulated"
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

from ..errors import FormatError, ValidationError

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

CONSTANTS = {
    "synaptic_op": ("J", "one synaptic event: a weight accumulated into a membrane"),
    "mac": ("J", "one multiply-accumulate (analog input, dense equivalents)"),
    "add": ("J", "one addition or comparison in a neuron update"),
    "mul": ("J", "one multiplication in a neuron update (leak, synaptic decay)"),
    "neuron_update": ("J", "one neuron update, all its arithmetic lumped (active neuron where idle is given)"),
    "neuron_update_idle": ("J", "one update of a neuron whose membrane did not change"),
    "spike": ("J", "emitting one spike"),
    "route": ("J", "routing one spike to its targets"),
    "static_power": ("W", "static power while the network runs"),
    "step_time": ("s", "wall time of one simulation step on the device"),
}
SCOPES = ("per-term", "all-in")
EVIDENCE = ("measured", "simulated", "derived")
_FIELDS = ("value", "source", "node", "scope", "evidence")
_TIER_FIELDS = ("name", "capacity_bytes", "access_bits") + _FIELDS
_PROFILE_KEYS = ("description", "weight_bits", "state_bits", "memory")
ALIASES = {"loihi": "loihi2018", "truenorth": "truenorth2014", "horowitz45": "horowitz45-fp32",
           "fp32": "horowitz45-fp32", "int8": "horowitz45-int8"}


@dataclass(frozen=True)
class Constant:
    """One published number with its provenance; ``value`` in the unit ``CONSTANTS`` gives its name."""

    name: str
    value: float
    source: str
    node: str
    scope: str
    evidence: str

    @property
    def unit(self) -> str:
        return CONSTANTS[self.name][0] if self.name in CONSTANTS else "J"


@dataclass(frozen=True)
class MemoryTier:
    """A memory holding up to ``capacity_bytes``; ``cost.value`` joules per access of ``access_bits``."""

    name: str
    capacity_bytes: float
    access_bits: int
    cost: Constant


@dataclass(frozen=True)
class Profile:
    """A named cost table. A profile is either all per-term constants or a single all-in figure."""

    name: str
    description: str
    constants: dict
    memory: tuple = ()
    weight_bits: int = 32
    state_bits: int = 32

    def __post_init__(self):
        scopes = {c.scope for c in self.constants.values()} | {t.cost.scope for t in self.memory}
        if "all-in" in scopes and (len(self.constants) > 1 or self.memory):
            raise ValidationError(f"profile '{self.name}': an all-in constant already includes memory, leakage and "
                                  "routing and cannot be combined with other constants; split it into two profiles")
        if "synaptic_op" not in self.constants:
            raise ValidationError(f"profile '{self.name}': needs a 'synaptic_op' constant")

    @property
    def all_in(self) -> bool:
        return self.constants["synaptic_op"].scope == "all-in"

    def get(self, name: str) -> float | None:
        """The value of constant ``name``, or None where the profile does not have it."""
        c = self.constants.get(name)
        return None if c is None else c.value

    def tier(self, n_bytes: float) -> MemoryTier | None:
        """The smallest memory tier that holds ``n_bytes``, or None without memory tiers."""
        return next((t for t in self.memory if t.capacity_bytes >= n_bytes), None)

    def access(self, n_bytes: float, bits: int) -> tuple[float, str] | None:
        """Joules to read (or write) ``bits`` from the tier holding ``n_bytes``, and the tier's name.

        A narrower word costs its share of the tier's access (``bits / access_bits``).
        """
        t = self.tier(n_bytes)
        return None if t is None else (t.cost.value * bits / t.access_bits, t.name)

    def provenance(self) -> list[Constant]:
        """Every constant, memory tiers included (named by tier)."""
        return list(self.constants.values()) + [
            Constant(f"memory: {t.name}", t.cost.value, t.cost.source, t.cost.node, t.cost.scope, t.cost.evidence)
            for t in self.memory]


def _field(table: dict, key: str, kind, where: str):
    if key not in table:
        raise FormatError(f"{where}: missing '{key}'")
    value = table[key]
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) or value < 0:
            raise FormatError(f"{where}: '{key}' must be a number >= 0, got {value!r}")
        return float(value)
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise FormatError(f"{where}: '{key}' must be a whole number >= 1, got {value!r}")
        return value
    if not isinstance(value, str) or not value.strip():
        raise FormatError(f"{where}: '{key}' must be a non-empty string, got {value!r}")
    return value


def _constant(name: str, table, where: str) -> Constant:
    if not isinstance(table, dict):
        raise FormatError(f"{where}: expected a table with {', '.join(_FIELDS)}")
    unknown = sorted(set(table) - set(_FIELDS))
    if unknown:
        raise FormatError(f"{where}: unknown key '{unknown[0]}', expected {', '.join(_FIELDS)}")
    value = _field(table, "value", float, where)
    if not math.isfinite(value):
        raise FormatError(f"{where}: 'value' must be finite, got {value}")
    c = Constant(name, value, *(_field(table, k, str, where) for k in ("source", "node", "scope", "evidence")))
    if c.scope not in SCOPES:
        raise FormatError(f"{where}: 'scope' must be one of {SCOPES}, got {c.scope!r}")
    if c.evidence not in EVIDENCE:
        raise FormatError(f"{where}: 'evidence' must be one of {EVIDENCE}, got {c.evidence!r}")
    return c


def _tier(table, where: str) -> MemoryTier:
    if not isinstance(table, dict):
        raise FormatError(f"{where}: expected a table")
    cost = _constant("memory", {k: v for k, v in table.items() if k not in _TIER_FIELDS[:3]}, where)
    for key in _TIER_FIELDS[:3]:
        _field(table, key, {"name": str, "capacity_bytes": float, "access_bits": int}[key], where)
    if table["capacity_bytes"] <= 0:
        raise FormatError(f"{where}: 'capacity_bytes' must be > 0")
    return MemoryTier(table["name"], float(table["capacity_bytes"]), table["access_bits"], cost)


def _profile(name: str, table, where: str) -> Profile:
    if not isinstance(table, dict):
        raise FormatError(f"{where}: expected a table of constants")
    constants = {}
    for key, value in table.items():
        if key in _PROFILE_KEYS:
            continue
        if key not in CONSTANTS:
            expected = ", ".join(_PROFILE_KEYS + tuple(CONSTANTS))
            raise FormatError(f"{where}: unknown key '{key}', expected one of {expected}")
        constants[key] = _constant(key, value, f"{where}, constant '{key}'")
    memory = table.get("memory", [])
    if not isinstance(memory, list):
        raise FormatError(f"{where}: 'memory' must be an array of tables ([[{name}.memory]])")
    tiers = tuple(_tier(t, f"{where}, memory tier {i}") for i, t in enumerate(memory))
    if [t.capacity_bytes for t in tiers] != sorted(t.capacity_bytes for t in tiers):
        raise FormatError(f"{where}: memory tiers must be listed smallest first")
    bits = {k: _field(table, k, int, where) for k in ("weight_bits", "state_bits") if k in table}
    description = _field(table, "description", str, where) if "description" in table else ""
    try:
        return Profile(name, description, constants, tiers, **bits)
    except ValidationError as e:
        raise FormatError(f"{where}: {e}") from None


def load_profiles(path) -> dict[str, Profile]:
    """All profiles in a TOML file, by name; a malformed file raises FormatError naming file and key."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise FormatError(f"{path}: cannot read profile file: {e.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise FormatError(f"{path}: not valid TOML: {e}") from None
    if not data:
        raise FormatError(f"{path}: no profile tables")
    return {name: _profile(name, table, f"{path}: profile '{name}'") for name, table in data.items()}


def builtin_profiles() -> dict[str, Profile]:
    """The profiles shipped with `spiking` (``spiking/energy/data/*.toml``)."""
    return dict(_builtin())


@lru_cache(maxsize=1)
def _builtin() -> dict[str, Profile]:
    out = {}
    for entry in sorted(resources.files(__package__).joinpath("data").iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            with resources.as_file(entry) as path:
                out.update(load_profiles(path))
    return out


def profile(name_or_path) -> Profile:
    """A built-in profile by name (``"loihi2018"``, alias ``"loihi"``), or the only profile of a TOML file.

    ``"file.toml:name"`` picks one profile of a file that holds several.
    """
    if isinstance(name_or_path, Profile):
        return name_or_path
    text = str(name_or_path)
    builtin = builtin_profiles()
    key = ALIASES.get(text, text)
    if key in builtin:
        return builtin[key]
    path, _, pick = text.partition(".toml:")
    path = path + ".toml" if pick else text
    if not Path(path).suffix == ".toml":
        raise ValidationError(f"no built-in profile '{text}'; choose one of {', '.join(sorted(builtin))} "
                              f"(aliases {', '.join(sorted(ALIASES))}) or give a .toml file")
    found = load_profiles(path)
    if pick:
        if pick not in found:
            raise ValidationError(f"{path}: no profile '{pick}', the file holds {', '.join(found)}")
        return found[pick]
    if len(found) > 1:
        raise ValidationError(f"{path} holds {len(found)} profiles ({', '.join(found)}); name one as '{path}:NAME'")
    return next(iter(found.values()))
