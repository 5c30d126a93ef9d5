"""Batch prediction, whole process: `tailor predict` on a file of texts vs a transformers pipeline.

    python benchmarks/prediction.py RUN_DIR DATA.csv [--repeats 3]

RUN_DIR is a text classification run (the demo: runs/demo-tweets after `make demo`), DATA.csv its
texts (examples/sentiment/data/test.csv: 2,000 tweets). Each contender is a fresh process that
loads the model, answers every row and writes the answers to a file; the contenders take turns,
medians over the repeats. The pipeline runs at batch 64, as its docs suggest for a CPU. Writes
benchmarks/results/prediction.{md,json}.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

PIPELINE_SCRIPT = '''
import csv, json, sys
from transformers import pipeline
model, data, out = sys.argv[1:4]
texts = [row["text"] for row in csv.DictReader(open(data, encoding="utf-8"))]
classify = pipeline("text-classification", model=model, device="cpu", batch_size=64, top_k=None)
with open(out, "w") as f:
    for text, scores in zip(texts, classify(texts, truncation=True)):
        best = max(scores, key=lambda s: s["score"])
        f.write(json.dumps({"text": text, "label": best["label"], "score": best["score"]}) + "\\n")
'''


def options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path)
    parser.add_argument("data", type=Path)
    parser.add_argument("--repeats", type=int, default=3)
    return parser.parse_args()


def contenders(run: Path, data: Path, folder: Path) -> dict[str, list[str]]:
    (folder / "pipeline.py").write_text(PIPELINE_SCRIPT)
    tailor_bin = str(Path(sys.executable).parent / "tailor")
    predict = [tailor_bin, "predict", str(run), "--data", str(data)]
    return {"transformers pipeline (batch 64)": [sys.executable, str(folder / "pipeline.py"), str(run / "model"),
                                                 str(data), str(folder / "pipeline.jsonl")],
            "tailor predict (fp32, default)": predict + ["--output", str(folder / "fp32.jsonl")],
            "tailor predict --precision bf16": predict + ["--precision", "bf16", "--output", str(folder / "bf16.jsonl")],
            "tailor predict --precision auto": predict + ["--precision", "auto", "--output", str(folder / "auto.jsonl")]}


def labels(path: Path) -> list[str]:
    return [json.loads(line)["label"] for line in path.read_text().splitlines()]


def main() -> None:
    args = options()
    from run import machine

    host = machine()
    folder = Path(tempfile.mkdtemp())
    rows = sum(1 for _ in csv.DictReader(args.data.open(encoding="utf-8")))
    commands = contenders(args.run, args.data, folder)
    seconds: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.repeats):
        for name, command in commands.items():
            start = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
            seconds[name].append(time.perf_counter() - start)
            if done.returncode != 0:
                raise SystemExit(f"{name} failed: {done.stderr[-2000:]}")
    reference = labels(folder / "pipeline.jsonl")
    agreement = {name: sum(a == b for a, b in zip(labels(folder / f"{key}.jsonl"), reference))
                 for name, key in zip(list(commands)[1:], ("fp32", "bf16", "auto"))}
    medians = {name: statistics.median(values) for name, values in seconds.items()}
    pipeline = medians["transformers pipeline (batch 64)"]
    lines = ["# Batch prediction, whole process: tailor predict vs a transformers pipeline\n",
             f"Machine: {host['cpu']}, {host['logical_cpus']} CPUs, bf16 native: {host['bf16_native']}; torch "
             f"{host['versions']['torch']}, transformers {host['versions']['transformers']}; tailor "
             f"{host['tailor_commit']}; {host['date_utc']} UTC. {rows:,} rows of {args.data.name}, run "
             f"{args.run.name}; medians of {args.repeats} interleaved repeats, each a fresh process (imports, "
             "model load, answers written to a file).\n",
             "| command | seconds | rows/s | vs the pipeline | labels as the pipeline's |", "|---|---|---|---|---|"]
    for name, value in medians.items():
        same = agreement.get(name)
        lines.append(f"| {name} | {value:.1f} | {rows / value:.0f} | {pipeline / value:.2f}x | "
                     f"{'-' if same is None else f'{same:,} of {rows:,}'} |")
    auto = args.run / "precision.json"
    if auto.exists():
        lines.append(f"\n--precision auto chose {json.loads(auto.read_text())['chosen']}: "
                     f"{json.loads(auto.read_text())['why']}.")
    out = HERE / "results" / "prediction"
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    out.with_suffix(".json").write_text(json.dumps({"machine": host, "rows": rows, "seconds": seconds,
                                                    "agreement": agreement}, indent=2))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
