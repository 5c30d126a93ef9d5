"""Write predictions where the user asked: JSON lines, or CSV with one probability column per label."""

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
    labels = list(answers[0]["probabilities"]) if answers else []
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["text", "label", "score", *(f"p_{label}" for label in labels)])
    for answer in answers:
        writer.writerow([answer["text"], answer["label"], answer["score"],
                         *(answer["probabilities"][label] for label in labels)])
    return buffer.getvalue()
