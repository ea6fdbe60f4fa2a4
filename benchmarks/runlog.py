"""The resumable benchmarks' log: one JSON object per finished row, appended as it finishes."""

from __future__ import annotations

import json
from pathlib import Path


def read_rows(path: Path, key) -> dict:
    """Finished rows by ``key(row)``; a missing file is an empty log."""
    rows = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                rows[key(row)] = row
    return rows


def append_row(path: Path, row: dict) -> None:
    with path.open("a") as f:
        f.write(json.dumps(row) + "\n")
