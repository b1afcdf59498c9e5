"""Power meters: the RAPL reader against a fake powercap tree (wraparound included), and the
unavailable case reported with its reason and no number. Also the ``spiking energy`` command."""
import argparse
import json
import os

import numpy as np
import pytest

import spiking as sp
from spiking.energy import measure, price
from spiking.energy.cli import add_parser, main as energy_main
from spiking.energy.meters import RaplCounter

MAX_UJ = 262143328850


def fake_powercap(root, values, max_uj=MAX_UJ):
    for k, v in enumerate(values):
        d = root / f"intel-rapl:{k}"
        d.mkdir(parents=True)
        (d / "name").write_text(f"package-{k}\n")
        (d / "energy_uj").write_text(f"{v}\n")
        (d / "max_energy_range_uj").write_text(f"{max_uj}\n")
        sub = d / f"intel-rapl:{k}:0"            # a sub-domain (core): inside the package, not added
        sub.mkdir()
        (sub / "energy_uj").write_text("999999\n")
        (sub / "max_energy_range_uj").write_text(f"{max_uj}\n")
    return root


def set_energy(root, k, value):
    (root / f"intel-rapl:{k}" / "energy_uj").write_text(f"{value}\n")


def test_rapl_reads_package_domains_and_differences_them(tmp_path):
    root = fake_powercap(tmp_path, [1_000_000, 5_000_000])
    counter = RaplCounter(root)
    assert counter.source == "RAPL package-0, package-1"
    start = counter.read()
    set_energy(root, 0, 3_500_000)
    set_energy(root, 1, 5_250_000)
    assert counter.joules(start, counter.read()) == pytest.approx(2.5 + 0.25)


def test_rapl_wraparound(tmp_path):
    root = fake_powercap(tmp_path, [MAX_UJ - 1_000_000])
    with measure(source="rapl", powercap=root, idle_seconds=0) as m:
        set_energy(root, 0, 2_000_000)          # wrapped: 1 J to the top, then 2 J
    assert m.result.available
    assert m.joules == pytest.approx(3.0)
    assert m.result.source == "RAPL package-0"


def test_idle_draw_is_measured_and_subtracted(tmp_path):
    root = fake_powercap(tmp_path, [0])
    with measure(source="rapl", powercap=root, idle_seconds=0.05) as m:   # the idle counter does not move
        set_energy(root, 0, 4_000_000)
    assert m.result.idle_watts == 0.0
    assert m.result.active_joules == pytest.approx(4.0)


def test_unavailable_meter_says_so_and_gives_no_number(tmp_path):
    with measure(source="rapl", powercap=tmp_path, idle_seconds=0) as m:
        pass
    r = m.result
    assert not r.available and r.joules is None and r.active_joules is None
    assert "no intel-rapl" in r.reason and str(tmp_path) in r.reason
    assert r.describe().startswith("unavailable: RAPL")
    net = sp.Network()
    net.input("in", (2,))
    net.population("o", sp.IF(), (1,))
    net.connect("in", "o", sp.Linear([[0.5, 0.5]]))
    rep = price(sp.run(net, sp.spikes(np.ones((2, 1, 2), np.uint8))), net, "loihi", measured=r)
    assert "measured                         unavailable: RAPL" in rep.table()
    assert json.loads(rep.to_json())["measured"]["joules"] is None


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_rapl_is_reported(tmp_path):
    root = fake_powercap(tmp_path, [0])
    (root / "intel-rapl:0" / "energy_uj").chmod(0)
    with measure(source="rapl", powercap=root, idle_seconds=0) as m:
        pass
    assert not m.result.available and "not readable" in m.result.reason


def test_unknown_meter_source_is_refused():
    with pytest.raises(sp.ValidationError, match="meter source"):
        measure(source="wattmeter")


def test_nvml_without_a_gpu_is_reported():
    with measure(source="nvml", idle_seconds=0) as m:
        pass
    if m.result.available:
        pytest.skip("an NVIDIA GPU is readable here")
    assert m.joules is None and m.result.reason.startswith("NVML")


def test_energy_command_prints_the_report(tmp_path, capsys):
    rng = np.random.default_rng(0)
    net = sp.Network()
    net.input("in", (1, 8, 8))
    net.population("c", sp.IF(), (2, 6, 6))
    net.population("o", sp.IF(), (3,))
    net.connect("in", "c", sp.Conv2d(rng.uniform(0, 0.5, (2, 1, 3, 3))))
    net.connect("c", "o", [sp.AvgPool2d(2), sp.Flatten(), sp.Linear(rng.uniform(0, 0.5, (3, 18)))])
    sp.save(net, tmp_path / "net.h5")
    x = (rng.random((6, 2, 1, 8, 8)) < 0.3).astype(np.uint8)
    np.save(tmp_path / "x.npy", x)
    parser = argparse.ArgumentParser(prog="spiking")
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["energy", str(tmp_path / "net.h5"), str(tmp_path / "x.npy"), "--profile", "int8",
                              "--json", str(tmp_path / "r.json"), "--plot", str(tmp_path / "r.png")])
    energy_main(args)
    out = capsys.readouterr().out
    assert "energy on 'horowitz45-int8'" in out and "NeuroBench counts" in out and "sources" in out
    expected = price(sp.run(net, sp.spikes(x), record=["c"]), net, "int8", stimulus=sp.spikes(x))
    saved = json.loads((tmp_path / "r.json").read_text())
    assert saved["totals"]["snn"] == pytest.approx(expected.total())
    assert saved["neurobench"] == expected.neurobench
    assert (tmp_path / "r.png").stat().st_size > 1000
    bad = parser.parse_args(["energy", str(tmp_path / "net.h5"), str(tmp_path / "x.npy"), "--kind", "rates"])
    with pytest.raises(sp.ValidationError, match="--steps is required"):
        energy_main(bad)
