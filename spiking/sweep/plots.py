"""Figures of a sweep's rows, each written as PNG and PDF.

- accuracy against energy per inference, with the Pareto front (no other point is both cheaper
  and more accurate);
- energy and event-driven time against activity, with the dense machines as lines and the
  break-even activity where a straight-line fit of the points crosses them;
- synaptic events and event-driven time against weight sparsity, next to their fall in proportion
  to the weights kept and to the events.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..files import replacing
from ..errors import ValidationError
from .grid import FLOAT_BITS

FORMATS = ("png", "pdf")


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _save(fig, stem: Path) -> list[Path]:
    paths = []
    try:
        for ext in FORMATS:
            path = stem.with_suffix(f".{ext}")
            with replacing(path) as tmp:
                fig.savefig(tmp, dpi=150)
            paths.append(path)
    finally:
        _pyplot().close(fig)
    return paths


def pareto(energy, accuracy) -> np.ndarray:
    """Indices of the points on the Pareto front, cheapest first: no other point has lower or equal
    energy and higher accuracy, or lower energy and equal accuracy."""
    energy, accuracy = np.asarray(energy, float), np.asarray(accuracy, float)
    order = np.lexsort((-accuracy, energy))
    front, best = [], -np.inf
    for i in order:
        if accuracy[i] > best:
            front.append(i)
            best = accuracy[i]
    return np.asarray(front, int)


def crossing(x, y, level: float) -> tuple[float, float, float | None]:
    """The least-squares line ``y = a + b x`` and the ``x`` where it reaches ``level`` (None if flat)."""
    b, a = np.polyfit(np.asarray(x, float), np.asarray(y, float), 1)
    return a, b, ((level - a) / b if b else None)


def _label(row) -> str:
    return "float" if row["bits"] == FLOAT_BITS else f"{row['bits']} bit"


def _where(rows, **values) -> list[dict]:
    picked = [r for r in rows if all(r[k] == v for k, v in values.items())]
    if not picked:
        raise ValidationError(f"no sweep rows with {values}")
    return picked


def accuracy_energy(rows, stem, profile: str) -> list[Path]:
    """Accuracy against memory-inclusive energy per inference on ``profile``, every point."""
    plt = _pyplot()
    energy = np.array([r[f"{profile}:total_j"] for r in rows])
    acc = np.array([100 * r["accuracy"] for r in rows])
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    sparsities = sorted({r["sparsity"] for r in rows})
    colors = plt.cm.viridis(np.linspace(0, 0.9, len(sparsities)))
    markers = dict(zip(sorted({r["bits"] for r in rows}, reverse=True), "osD^v<>"))
    longest = max(r["steps"] for r in rows)
    for r, e, a in zip(rows, energy, acc):
        color = colors[sparsities.index(r["sparsity"])]
        ax.scatter(e, a, marker=markers[r["bits"]], s=22, alpha=0.8, edgecolors=color,
                   facecolors=color if r["steps"] == longest else "none")
    front = pareto(energy, acc)
    ax.step(energy[front], acc[front], where="post", color="r", lw=1, label="Pareto front")
    for s, c in zip(sparsities, colors):
        ax.scatter([], [], color=c, marker="o", label=f"{100 * s:g} % weights pruned")
    for bits, m in markers.items():
        ax.scatter([], [], color="grey", marker=m, label=_label({"bits": bits}))
    ax.scatter([], [], edgecolors="grey", facecolors="none", label=f"hollow: T < {longest}")
    ax.set_xscale("log")
    ax.set_xlabel(f"energy per inference on {profile} (memory included) [J]")
    ax.set_ylabel("accuracy [%]")
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, Path(stem))


def energy_time_activity(rows, stem, profile: str, steps: int, bits: int) -> list[Path]:
    """Energy (left) and time (right) per inference against activity, at ``steps`` and ``bits``."""
    plt = _pyplot()
    rows = _where(rows, steps=steps, bits=bits)
    act = np.array([r["activity"] for r in rows])
    top = act.max() * 1.1
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    panels = ((left, np.array([r[f"{profile}:total_j"] for r in rows]), "energy per inference [J]",
               (("dense ANN, one pass", f"{profile}:ann_j", "k", "--"),
                ("SNN run densely", f"{profile}:dense_snn_j", "grey", ":"))),
              (right, 1e3 * np.array([r["event_s"] for r in rows]), "time per image [ms]",
               (("dense reference backend", "dense_s", "grey", ":"),)))
    for ax, y, ylabel, dense in panels:
        ax.scatter(act, y, s=16, label="sweep points (event-driven)")
        levels = []
        for label, key, color, style in dense:
            values = [r[key] for r in rows]
            if None not in values:
                levels.append(float(np.median(values)) * (1e3 if key == "dense_s" else 1.0))
                ax.axhline(levels[-1], color=color, ls=style, label=label)
        a, b, even = crossing(act, y, levels[0] if levels else np.nan)
        ax.plot([0, top], [a, a + b * top], lw=0.8, label="straight-line fit")
        if b > 0 and 0 <= even <= top:  # below it, the event-driven run is the cheaper
            ax.axvline(even, color="r", lw=0.8, label=f"break-even {even:.3g}")
        ax.set_xlabel("activity (synaptic events per synapse per step)")
        ax.set_ylabel(ylabel)
        ax.set_xlim(0, top)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    left.set_title(f"energy on {profile}, T = {steps}, {_label({'bits': bits})}", fontsize=9)
    right.set_title(f"time on this CPU, T = {steps}, {_label({'bits': bits})}", fontsize=9)
    fig.tight_layout()
    return _save(fig, Path(stem))


def events_sparsity(rows, stem, steps: int, bits: int) -> list[Path]:
    """Synaptic events (left) and event-driven time (right) against weight sparsity, one line per
    activity setting; dotted from the unpruned point: events in proportion to the weights kept,
    time in proportion to the events."""
    plt = _pyplot()
    rows = _where(rows, steps=steps, bits=bits)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    settings = sorted({(r["knob"], r["level"]) for r in rows})
    for knob, level in settings:
        line = sorted(_where(rows, knob=knob, level=level), key=lambda r: r["weight_sparsity"])
        s = np.array([r["weight_sparsity"] for r in line])
        events = np.array([r["synaptic_events"] for r in line])
        seconds = 1e3 * np.array([r["event_s"] for r in line])
        for ax, y, expected in ((left, events, events[0] * (1 - s)), (right, seconds, seconds[0] * events / events[0])):
            drawn = ax.plot(100 * s, y, "o-", label=f"{knob} {level:g}")
            if s[0] == 0:
                ax.plot(100 * s, expected, ls=":", color=drawn[0].get_color(), lw=0.8)
    left.set_ylabel("synaptic events per image")
    right.set_ylabel("event-driven time per image [ms]")
    for ax, label in ((left, "in proportion to the weights kept"), (right, "in proportion to the synaptic events")):
        ax.plot([], [], ls=":", color="grey", label=label)
        ax.set_xlabel("weights pruned [%]")
        ax.set_yscale("log")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3, which="both")
        ax.set_title(f"T = {steps}, {_label({'bits': bits})}", fontsize=9)
    fig.tight_layout()
    return _save(fig, Path(stem))


def plot_all(rows, folder, profile: str, prefix: str = "sweep_") -> list[Path]:
    """The three figures of ``rows`` in ``folder`` at the longest T and the widest weights."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    steps = max(r["steps"] for r in rows)
    bits = max(r["bits"] for r in rows)
    return (accuracy_energy(rows, folder / f"{prefix}accuracy_energy", profile)
            + energy_time_activity(rows, folder / f"{prefix}energy_time_activity", profile, steps, bits)
            + events_sparsity(rows, folder / f"{prefix}events_sparsity", steps, bits))
