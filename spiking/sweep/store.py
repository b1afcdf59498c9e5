"""The results of a sweep in a CSV file that always holds every finished point.

Line 1 is ``# spiking sweep`` and the sweep's settings as JSON; line 2 the column names; then one
row per finished point, sorted by the point columns. Each added point rewrites the file under a
temporary name and replaces it (``os.replace``) after an fsync, so an interrupted sweep leaves the
previous complete file, never a half-written row. Opening an existing file with other settings is
an error: its points were computed differently.
"""
from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

from ..files import replacing
from ..errors import FormatError, ValidationError

MAGIC = "# spiking sweep "


def _value(text: str):
    """A CSV field back as the int, float, None (empty) or string it was written from."""
    if text == "":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


class Store:
    """Finished rows of one sweep, keyed by the values of ``key_columns``, kept in ``path``."""

    def __init__(self, path, settings: dict, key_columns: tuple):
        self.path = Path(path)
        self.settings = json.loads(json.dumps(settings))
        self.key_columns = tuple(key_columns)
        self.columns: tuple | None = None
        self._rows: dict[tuple, dict] = {}
        if self.path.exists():
            self._load()

    def _load(self) -> None:
        with open(self.path, newline="", encoding="utf-8") as f:
            first = f.readline()
            if not first.startswith(MAGIC):
                raise FormatError(f"{self.path}: line 1: expected '{MAGIC.strip()}' and the settings as JSON")
            try:
                settings = json.loads(first[len(MAGIC):])
            except json.JSONDecodeError as e:
                raise FormatError(f"{self.path}: line 1, column {len(MAGIC) + e.colno}: {e.msg}") from None
            if settings != self.settings:
                changed = sorted(k for k in set(settings) | set(self.settings)
                                 if settings.get(k) != self.settings.get(k))
                raise ValidationError(f"{self.path} holds a sweep with other settings ({', '.join(changed)}); "
                                      "give another results file or remove this one")
            reader = csv.reader(f)
            header = next(reader, None)
            if header is None:
                raise FormatError(f"{self.path}: line 2: expected the column names")
            missing = [c for c in self.key_columns if c not in header]
            if missing:
                raise FormatError(f"{self.path}: line 2: missing the point columns {missing}")
            self.columns = tuple(header)
            for fields in reader:
                if len(fields) != len(header):
                    raise FormatError(f"{self.path}: line {reader.line_num + 1}: {len(fields)} fields, "
                                      f"expected {len(header)}")
                row = dict(zip(header, map(_value, fields)))
                self._rows[self._key(row)] = row

    def _key(self, row: dict) -> tuple:
        return tuple(row[c] for c in self.key_columns)

    def __contains__(self, key: tuple) -> bool:
        return tuple(key) in self._rows

    def __len__(self) -> int:
        return len(self._rows)

    def add(self, row: dict) -> None:
        """Record a finished point's ``row`` (a dict holding every column) and rewrite the file."""
        if self.columns is None:
            self.columns = tuple(row)
        if set(row) != set(self.columns):
            raise ValidationError(f"row columns {sorted(row)} differ from the file's {sorted(self.columns)}")
        self._rows[self._key(row)] = {c: row[c] for c in self.columns}
        self._write()

    def rows(self, keys=None) -> list[dict]:
        """The rows sorted by their point columns, or those of ``keys`` in that order."""
        if keys is not None:
            return [self._rows[tuple(k)] for k in keys]
        return [self._rows[k] for k in sorted(self._rows)]

    def _write(self) -> None:
        text = io.StringIO()
        text.write(MAGIC + json.dumps(self.settings, sort_keys=True) + "\n")
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(self.columns)
        for row in self.rows():
            writer.writerow(["" if row[c] is None else row[c] for c in self.columns])
        with replacing(self.path) as tmp, open(tmp, "x", encoding="utf-8", newline="") as f:
            f.write(text.getvalue())
            f.flush()
            os.fsync(f.fileno())
