"""Safe writes: the final name holds either the old file or the whole new one, never a part."""
import json
import os

import pytest

from spiking.files import replacing, write_json


def test_write_json_round_trip_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "out.json"
    write_json(path, {"a": [1, 2.5], "b": "x"})
    assert json.loads(path.read_text()) == {"a": [1, 2.5], "b": "x"}
    assert os.listdir(tmp_path) == ["out.json"]


def test_a_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "out.json"
    path.write_text("old")
    with pytest.raises(TypeError):
        write_json(path, {"not serialisable": object()})
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["out.json"]
    with pytest.raises(RuntimeError):
        with replacing(path) as tmp:
            open(tmp, "w").write("partial")
            raise RuntimeError("interrupted")
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["out.json"]
