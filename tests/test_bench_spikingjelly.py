"""The SpikingJelly comparison's bookkeeping (by hand) and its message when SpikingJelly is missing."""
import importlib.util

import numpy as np
import pytest

from spiking.bench.spikingjelly import DEFAULT, INSTALL, main, verdict


def _method(library, acc8, acc16):
    return dict(library=library, accuracy={8: acc8, 16: acc16})


def test_verdict_by_hand():
    labels = np.array([0, 1, 2, 3])
    methods = {"sj a": _method("spikingjelly", 0.75, 0.5), "sj b": _method("spikingjelly", 0.5, 0.75),
               DEFAULT: _method("spiking", 0.5, 1.0), "ours b": _method("spiking", 0.75, 0.75)}
    predictions = {"sj a": np.array([[0, 0], [1, 9], [2, 2], [9, 9]]),
                   "sj b": np.array([[0, 0], [9, 1], [9, 2], [3, 9]]),
                   DEFAULT: np.array([[9, 0], [9, 1], [2, 2], [3, 3]]),
                   "ours b": np.array([[0, 0], [1, 1], [9, 9], [3, 3]])}
    v = verdict(methods, predictions, labels, (8, 16))
    assert v[8]["best_spikingjelly"] == "sj a" and v[8]["best_ours"] == "ours b"
    assert v[8]["best_ours_at_least_theirs"] and not v[8]["default_at_least_theirs"]
    # T = 8: sj a right on images 0, 1, 2; our default on 2, 3
    assert (v[8]["only_default_right"], v[8]["only_theirs_right"]) == (1, 2)
    assert v[16]["best_spikingjelly"] == "sj b" and v[16]["best_ours"] == DEFAULT
    assert v[16]["default_at_least_theirs"]
    # T = 16: sj b right on images 0, 1, 2; our default on all four
    assert (v[16]["only_default_right"], v[16]["only_theirs_right"]) == (1, 0)


@pytest.mark.skipif(importlib.util.find_spec("spikingjelly") is not None, reason="SpikingJelly is installed here")
def test_missing_spikingjelly_names_the_install_command(capsys):
    with pytest.raises(SystemExit) as exc:
        main([])
    assert exc.value.code == 2
    assert INSTALL in capsys.readouterr().err
