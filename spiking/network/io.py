"""Save a network to HDF5 and load it back exactly, rebuilt through the public builder.

Layout (format ``spiking.network``, version 1)::

    /                    attrs: format, version, output (absent when None)
    /populations/<i>     attrs: name, shape; group ``neuron`` (absent for the input)
    /projections/<i>     attrs: name, pre, post, receptor, delay; groups ``ops/<k>``

``<i>`` and ``<k>`` are the insertion order (HDF5 lists members alphabetically). A neuron or op is
stored generically, as NIR does, so a new model or op needs no I/O code: a group with attribute
``type`` (its class name in ``NEURON_MODELS`` or ``OPS``) and one entry per dataclass field: a
string as an attribute, None as an empty attribute, a tuple as a 1-D dataset marked ``tuple``,
any number or array as a dataset of its own dtype.
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import fields

import h5py
import numpy as np

from ..files import replacing
from ..errors import FormatError, ValidationError
from ..neurons import NEURON_MODELS
from .graph import Network
from .ops import OPS

FORMAT = "spiking.network"
VERSION = 1
_NUMERIC = "biuf"


def save(net: Network, path: str | os.PathLike) -> None:
    """Write ``net`` to ``path``, through a temporary file in the same folder and ``os.replace``."""
    with replacing(path) as tmp, h5py.File(tmp, "x") as f:
        _write_network(f, net)


def load(path: str | os.PathLike) -> Network:
    """Read a network written by ``save``; malformed files raise FormatError or ValidationError."""
    path = os.fspath(path)
    try:
        f = h5py.File(path, "r")
    except FileNotFoundError:
        raise
    except OSError as e:
        raise FormatError(f"{path}: not an HDF5 file ({e})") from None
    with f:
        return _read_network(f, path)


def _write_network(f: h5py.File, net: Network) -> None:
    f.attrs["format"] = FORMAT
    f.attrs["version"] = VERSION
    if net.output is not None:
        f.attrs["output"] = net.output
    pops = f.create_group("populations")
    for i, pop in enumerate(net.populations.values()):
        g = pops.create_group(str(i))
        g.attrs["name"] = pop.name
        g.attrs["shape"] = np.asarray(pop.shape, dtype=np.int64)
        if pop.neuron is not None:
            _write_object(g.create_group("neuron"), pop.neuron)
    projs = f.create_group("projections")
    for i, proj in enumerate(net.projections.values()):
        g = projs.create_group(str(i))
        for key in ("name", "pre", "post", "receptor"):
            g.attrs[key] = getattr(proj, key)
        g.attrs["delay"] = np.int64(proj.delay)
        ops = g.create_group("ops")
        for k, op in enumerate(proj.ops):
            _write_object(ops.create_group(str(k)), op)


def _write_object(g: h5py.Group, obj) -> None:
    """Store a frozen dataclass field by field under ``g``."""
    g.attrs["type"] = type(obj).__name__
    for f in fields(obj):
        if not f.init:
            continue
        value = getattr(obj, f.name)
        if isinstance(value, str):
            g.attrs[f.name] = value
        elif value is None:
            g.attrs[f.name] = h5py.Empty("f8")
        else:
            arr = np.asarray(value)
            if arr.dtype.kind not in _NUMERIC or (isinstance(value, tuple) and arr.ndim != 1):
                raise ValidationError(f"{type(obj).__name__}: cannot store field {f.name} = {value!r}; fields must be "
                                      "strings, None, numbers, numeric arrays or flat tuples of numbers")
            ds = g.create_dataset(f.name, data=arr)
            if isinstance(value, tuple):
                ds.attrs["tuple"] = True


def _read_network(f: h5py.File, path: str) -> Network:
    fmt = f.attrs.get("format")
    if not isinstance(fmt, str) or fmt != FORMAT:
        raise FormatError(f"{path}: format is {fmt!r}, expected {FORMAT!r}")
    version = f.attrs.get("version")
    if not isinstance(version, (int, np.integer)) or version < 1:
        raise FormatError(f"{path}: format version must be a positive integer, got {version!r}")
    if version > VERSION:
        raise FormatError(f"{path}: format version {int(version)} is newer than this spiking reads (up to {VERSION}); "
                          "upgrade spiking")
    net = Network()
    for g in _members(f, "populations", path):
        name = _attr(g, "name", str, path)
        shape = _attr(g, "shape", np.ndarray, path)
        if shape.ndim != 1 or shape.dtype.kind not in "iu":
            raise FormatError(f"{path}: {g.name}: shape must be a 1-D integer array, got {shape!r}")
        neuron = _read_object(g["neuron"], NEURON_MODELS, path) if "neuron" in g else None
        with _located(path, g.name):
            if neuron is None:
                net.input(name, shape.tolist())
            else:
                net.population(name, neuron, shape.tolist())
    for g in _members(f, "projections", path):
        names = [_attr(g, key, str, path) for key in ("name", "pre", "post", "receptor")]
        delay = _attr(g, "delay", np.integer, path)
        ops = [_read_object(op, OPS, path) for op in _members(g, "ops", path)]
        with _located(path, g.name):
            net.connect(names[1], names[2], ops, delay=int(delay), name=names[0], receptor=names[3])
    if "output" in f.attrs:
        output = _attr(f, "output", str, path)
        if output not in net.populations:
            raise ValidationError(f"{path}: output '{output}' is not a population of the file")
        net.output = output
    return net


def _read_object(g, registry: dict, path: str):
    """Rebuild the dataclass stored in group ``g`` by ``_write_object``, from ``registry``."""
    if not isinstance(g, h5py.Group):
        raise FormatError(f"{path}: {g.name}: expected a group")
    type_name = _attr(g, "type", str, path)
    cls = registry.get(type_name)
    if cls is None:
        raise FormatError(f"{path}: {g.name}: unknown type {type_name!r}, expected one of {sorted(registry)}")
    expected = [f.name for f in fields(cls) if f.init]
    present = (set(g.attrs) - {"type"}) | set(g.keys())
    missing = [name for name in expected if name not in present]
    extra = sorted(present - set(expected))
    if missing or extra:
        raise FormatError(f"{path}: {g.name}: {type_name} needs fields {expected}; "
                          f"missing {missing}, unexpected {extra}")
    kwargs = {}
    for name in expected:
        if name in g.attrs:
            value = g.attrs[name]
            if isinstance(value, h5py.Empty):
                value = None
            elif not isinstance(value, str):
                raise FormatError(f"{path}: {g.name}: attribute {name} must be a string or empty, got {value!r}")
        else:
            ds = g[name]
            if not isinstance(ds, h5py.Dataset) or ds.dtype.kind not in _NUMERIC:
                raise FormatError(f"{path}: {ds.name}: expected a numeric dataset")
            value = ds[()]
            if ds.attrs.get("tuple", False):
                value = tuple(np.atleast_1d(value).tolist())
        kwargs[name] = value
    try:
        return cls(**kwargs)
    except ValidationError as e:
        raise ValidationError(f"{path}: {g.name}: {e}") from None
    except (TypeError, ValueError) as e:
        raise FormatError(f"{path}: {g.name}: cannot build {type_name}: {e}") from None


def _members(parent, key: str, path: str) -> list:
    """The subgroups ``0 .. n-1`` of ``parent[key]``, in that order."""
    if key not in parent or not isinstance(parent[key], h5py.Group):
        raise FormatError(f"{path}: {parent.name.rstrip('/')}/{key}: missing group")
    group = parent[key]
    names = sorted(group.keys(), key=lambda k: (len(k), k))
    if names != [str(i) for i in range(len(names))]:
        raise FormatError(f"{path}: {group.name}: members must be named 0 .. n-1 in order, got {names}")
    for name in names:
        if not isinstance(group[name], h5py.Group):
            raise FormatError(f"{path}: {group[name].name}: expected a group")
    return [group[name] for name in names]


def _attr(node, key: str, kind, path: str):
    if key not in node.attrs:
        raise FormatError(f"{path}: {node.name}: missing attribute '{key}'")
    value = node.attrs[key]
    if not isinstance(value, kind):
        raise FormatError(f"{path}: {node.name}: attribute '{key}' has the wrong type, got {value!r}")
    return value


@contextlib.contextmanager
def _located(path: str, where: str):
    """Prefix a ValidationError raised while rebuilding with the file and the HDF5 path."""
    try:
        yield
    except ValidationError as e:
        raise ValidationError(f"{path}: {where}: {e}") from None
