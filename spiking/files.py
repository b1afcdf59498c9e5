"""Writing files safely: never a half-written file under the final name."""
from __future__ import annotations

import contextlib
import json
import os
import secrets


@contextlib.contextmanager
def replacing(path):
    """A temporary name beside ``path`` (same extension) that replaces ``path`` once the block
    completes; if the block fails, the temporary file is removed and ``path`` is left as it was."""
    folder, base = os.path.split(os.path.abspath(os.fspath(path)))
    tmp = os.path.join(folder, f".{base}.{secrets.token_hex(6)}{os.path.splitext(base)[1]}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)


def write_json(path, obj) -> None:
    """``obj`` as indented JSON at ``path``, written through ``replacing``."""
    with replacing(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=1)
