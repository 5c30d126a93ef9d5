"""Write predictions where the user asked: JSON lines, or CSV (one column per value; a label's
probabilities as p_<label> columns, their MC-dropout spread as spread_<label>; lists such as entities
as JSON text)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from tailor.errors import TailorError
from tailor.io import atomic_write_text


def write_predictions(path: Path, answers: list[dict]) -> None:
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        atomic_write_text(path, "".join(json.dumps(a, ensure_ascii=False) + "\n" for a in answers))
    elif suffix == ".csv":
        atomic_write_text(path, _as_csv(answers))
    else:
        raise TailorError(f"--output {path}: write predictions to a .jsonl or .csv file")


def _as_csv(answers: list[dict]) -> str:
    rows = [_flat(answer) for answer in answers]
    columns = list(dict.fromkeys(key for row in rows for key in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, restval="")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


_PER_LABEL = {"probabilities": "p_", "spread": "spread_"}  # a value per label: one column each


def _flat(answer: dict) -> dict:
    row = {}
    for key, value in answer.items():
        if key in _PER_LABEL and isinstance(value, dict):
            row.update({f"{_PER_LABEL[key]}{label}": p for label, p in value.items()})
        elif isinstance(value, (dict, list)):
            row[key] = json.dumps(value, ensure_ascii=False)
        else:
            row[key] = value
    return row
