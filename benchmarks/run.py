"""Time tailor against a tutorial-style and an expert-style HF Trainer script, same data, same model.

    .venv/bin/python benchmarks/run.py            # full run; writes benchmarks/results/text_classification.*
    .venv/bin/python benchmarks/run.py --smoke    # a quick check; writes under benchmarks/work/ only

Each contender runs in its own process (so its peak RSS is its own), one after the other, `--repeats`
times with different training seeds (rounds interleave the contenders, so a slow spell of the machine
hits all of them); the table gives medians. See README.md.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from data import WORK, majority_share, prepare  # noqa: E402
from final_tables import write_final_results  # noqa: E402
from tables import write_results  # noqa: E402

CONTENDERS = {"tutorial": "tutorial.py", "expert": "expert.py", "tailor": "tailor_run.py"}
FLAGS = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_tile")


def options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train-size", type=int, default=4000)
    parser.add_argument("--eval-size", type=int, default=1000)
    parser.add_argument("--epochs", type=float, default=2)
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
    parser.add_argument("--repeats", type=int, default=3, help="runs per contender, training seeds 42, 43, ...")
    parser.add_argument("--view", choices=["final", "curve"], default="final",
                        help="final: every contender as written (one evaluation per epoch), whole-process time "
                             "and final accuracy; curve: evaluations every --eval-every samples, time to accuracy")
    parser.add_argument("--smoke", action="store_true", help="200 train / 100 eval / 1 epoch, results in work/")
    parser.add_argument("--results", type=Path, default=None, help="results file stem (default: see above)")
    parser.add_argument("--tables-only", action="store_true",
                        help="run nothing: write the results again from the runs saved in work/runs-VIEW.json")
    args = parser.parse_args()
    if args.smoke:
        args.train_size, args.eval_size, args.epochs, args.eval_every, args.repeats = 200, 100, 1, 64, 1
    if args.view == "final":
        args.eval_every = 0
    stem = "text_classification" + ("_final" if args.view == "final" else "")
    args.results = args.results or (WORK / "results-smoke" if args.smoke else HERE / "results") / stem
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


def run_contender(name: str, data: tuple[Path, Path], args: argparse.Namespace, train_seed: int) -> dict:
    out, log = WORK / "runs" / f"{name}-seed{train_seed}", WORK / "logs" / f"{name}-seed{train_seed}.log"
    shutil.rmtree(out, ignore_errors=True)
    log.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, str(HERE / CONTENDERS[name]), "--train", str(data[0]), "--eval", str(data[1]),
               "--epochs", str(args.epochs), "--eval-every", str(args.eval_every),
               "--max-length", str(args.max_length), "--out", str(out), "--train-seed", str(train_seed)]
    if name == "tailor":
        command += [part for override in args.tailor_set for part in ("--set", override)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    print(f"[{name} seed {train_seed}] running; log: {log}", flush=True)
    started = time.perf_counter()
    with log.open("w") as handle:
        code = subprocess.run(command, stdout=handle, stderr=subprocess.STDOUT, env=env, cwd=HERE.parent).returncode
    lines = [line for line in log.read_text().splitlines() if line.startswith("BENCH_RESULT ")]
    if code or not lines:
        print("\n".join(log.read_text().splitlines()[-30:]), file=sys.stderr)
        raise SystemExit(f"[{name}] failed (exit code {code}); full log: {log}")
    result = json.loads(lines[-1].removeprefix("BENCH_RESULT "))
    result["wall_s"], result["train_seed"] = round(time.perf_counter() - started, 1), train_seed
    print(f"[{name} seed {train_seed}] done in {result['wall_s']} s; best eval accuracy "
          f"{max(p['accuracy'] for p in result['curve']):.4f}", flush=True)
    return result


def main() -> None:
    args = options()
    data = prepare(args.train_size, args.eval_size, args.seed)
    if args.tables_only:
        saved = json.loads((WORK / f"runs-{args.view}.json").read_text(encoding="utf-8"))
        write = write_final_results if args.view == "final" else write_results
        write(args, saved["machine"], saved["runs"], majority_share(data[1]))
        return
    print(f"data: {data[0]} / {data[1]}", flush=True)
    host = machine()
    measure_peaks(host)
    print(f"peak: fp32 {host['peak_fp32_flops'] / 1e9:.0f} GFLOP/s, bf16 "
          f"{(host['peak_bf16_flops'] or 0) / 1e9:.0f} GFLOP/s", flush=True)
    runs: dict[str, list[dict]] = {name: [] for name in args.only}
    for train_seed in range(42, 42 + args.repeats):
        # Each round against the peak measured just before it: this VM's speed drifts by 3x.
        round_peaks = {"fp32": gemm_peak("float32"), "bf16": gemm_peak("bfloat16") if host["bf16_native"] else None}
        for name in args.only:
            runs[name].append({**run_contender(name, data, args, train_seed), "round_peaks": round_peaks})
            # Every finished run is kept at once: a failure later does not cost the hours before it.
            (WORK / f"runs-{args.view}.json").write_text(json.dumps({"machine": host, "runs": runs}), encoding="utf-8")
    measure_peaks(host)
    write = write_final_results if args.view == "final" else write_results
    write(args, host, runs, majority_share(data[1]))


if __name__ == "__main__":
    main()
