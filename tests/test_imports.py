"""The kernels and datasets import without torch (DESIGN.md), so event work needs no torch install."""
import subprocess
import sys


def test_kernels_and_datasets_import_without_torch():
    code = ("import sys, spiking.kernels.network, spiking.kernels.events, spiking.datasets, spiking; "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
