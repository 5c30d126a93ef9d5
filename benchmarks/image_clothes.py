"""Image classification on a small grey folder of clothes: tailor's defaults, from the pretrained
EfficientNet-Lite0 and from random weights at the same budget, side by side in one run.

    sudo apt-get install dataset-fashion-mnist       # the original Fashion-MNIST files (Debian, MIT)
    .venv/bin/python examples/images/prepare.py      # examples/images/data/{train,eval,test}/<class>/
    .venv/bin/python benchmarks/image_clothes.py     # ~20 min on 2 cores
    .venv/bin/python benchmarks/image_clothes.py --smoke   # 1 epoch at 64 px: checks that it works

Data: the 5 first Fashion-MNIST classes (t-shirt, trouser, pullover, dress, coat), 120 training and
40 evaluation images per class from the training split, 100 per class from the test split. Both
contenders run `tailor train examples/images/clothes.yaml` as it is (the defaults: 224 px, batch 16,
augmentation, 10 epochs with early stopping); the second with `model:` set to a folder of the same
network with freshly initialised weights. Each runs in its own process, one after the other. Writes
benchmarks/results/image_clothes.{md,json}: accuracy on eval and test, the training time, the time
the eval accuracy first reached 0.85, the whole process, and the distance to the machine: useful
FLOP/s (3 x a forward pass's FLOPs, counted by torch's FlopCounterMode, x the images trained, over
the training seconds) against the bf16 and fp32 matmul peaks measured just before each contender.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORK = HERE / "work" / "clothes"
RECIPE = ROOT / "examples" / "images" / "clothes.yaml"
TARGET = 0.85
RESULT_PREFIX = "BENCH_RESULT "
sys.path.insert(0, str(HERE))


def random_init_folder() -> Path:
    """The default network with fresh weights, and the embedded model's image processor."""
    from transformers import AutoImageProcessor

    from tailor.models.catalog import EMBEDDED
    from tailor.models.efficientnet_lite import EfficientNetLiteConfig, EfficientNetLiteForImageClassification

    folder = WORK / "random-init-model"
    EfficientNetLiteForImageClassification(EfficientNetLiteConfig()).save_pretrained(folder)
    AutoImageProcessor.from_pretrained(EMBEDDED["efficientnet-lite0"].path(), backend="pil").save_pretrained(folder)
    return folder


def run(contender: str, smoke: bool) -> dict:
    from tailor.api import train

    overrides = [f"output.dir={WORK / contender}"]
    if contender == "random-init":
        overrides.append(f"model={random_init_folder()}")
    if smoke:
        overrides += ["train.epochs=1", "image_classification.image_size=64"]
    result = train(RECIPE, overrides, overwrite=True)
    metrics = result.metrics
    history = json.loads((result.dir / "history.json").read_text())
    reached = next((h["elapsed_s"] for h in history if h.get("eval_accuracy", 0) >= TARGET), None)
    images = metrics["train"]["steps"] * metrics["train"]["global_batch"]
    return {"useful_gflops": 3 * forward_flops(result.dir / "model", _config(result.dir)) * images
            / metrics["train"]["runtime_s"] / 1e9,
            "eval_accuracy": metrics["eval"]["accuracy"], "test_accuracy": metrics["test"]["accuracy"],
            "test_f1_macro": metrics["test"]["f1_macro"], "train_s": metrics["train"]["runtime_s"],
            f"s_to_{TARGET}": reached, "steps": metrics["train"]["steps"],
            "eval_accuracy_per_epoch": [round(h["eval_accuracy"], 4) for h in history if "eval_accuracy" in h],
            "settings": {"batch": metrics["train"]["global_batch"], "precision": metrics["train"]["precision"],
                         "lr": _config(result.dir)["train"]["lr"]}}


def forward_flops(model_dir: Path, config: dict) -> float:
    """FLOPs of one image's forward pass at the trained size (training: about 3x this)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from transformers import AutoImageProcessor

    from tailor.data.image_transforms import processor_image_size
    from tailor.models.efficientnet_lite import EfficientNetLiteForImageClassification

    model = EfficientNetLiteForImageClassification.from_pretrained(model_dir).eval()
    side = config["image_classification"]["image_size"] or processor_image_size(
        AutoImageProcessor.from_pretrained(model_dir, backend="pil"))
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(pixel_values=torch.randn(1, 3, side, side))
    return counter.get_total_flops()


def _config(run_dir: Path) -> dict:
    import yaml

    return yaml.safe_load((run_dir / "config.yaml").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--contender", choices=["pretrained", "random-init"], help="(internal) run one contender")
    parser.add_argument("--reuse", action="store_true", help="keep a contender's result from an earlier run of this "
                                                             "commit (benchmarks/work/clothes/<name>.json)")
    args = parser.parse_args()
    if args.contender:
        print(RESULT_PREFIX + json.dumps(run(args.contender, args.smoke)), flush=True)
        return
    if not (RECIPE.parent / "data" / "train").exists():
        sys.exit("no data: run `python examples/images/prepare.py` first")
    from run import gemm_peak, machine

    results = {}
    for contender in ("pretrained", "random-init"):
        saved = WORK / f"{contender}.json"
        if args.reuse and saved.exists():
            results[contender] = json.loads(saved.read_text())
            continue
        peaks = {"peak_bf16": gemm_peak("bfloat16"), "peak_fp32": gemm_peak("float32")}  # this VM's speed drifts
        started = time.perf_counter()
        done = subprocess.run([sys.executable, __file__, "--contender", contender] + ["--smoke"] * args.smoke,
                              capture_output=True, text=True)
        line = next((l for l in done.stdout.splitlines() if l.startswith(RESULT_PREFIX)), None)
        if line is None:
            sys.exit(f"{contender} failed:\n{done.stderr[-3000:]}")
        results[contender] = {**json.loads(line[len(RESULT_PREFIX):]), **peaks,
                              "process_s": round(time.perf_counter() - started, 1)}
        saved.write_text(json.dumps(results[contender]))
        print(contender, results[contender], flush=True)
    write_results(results, machine(), smoke=args.smoke)


def _distance(r: dict) -> str:
    """Useful GFLOP/s and its share of the peaks (a row kept with --reuse from before the column: —)."""
    if "useful_gflops" not in r:
        return "— | —"
    return (f"{r['useful_gflops']:.0f} | {r['useful_gflops'] * 1e9 / r['peak_bf16']:.1%} / "
            f"{r['useful_gflops'] * 1e9 / r['peak_fp32']:.0%}")


def write_results(results: dict, described: dict, smoke: bool) -> None:
    folder = WORK if smoke else HERE / "results"
    reached = lambda r: f"{r[f's_to_{TARGET}']:.0f} s" if r[f"s_to_{TARGET}"] else "never"  # noqa: E731
    rows = "\n".join(f"| {name} | {r['eval_accuracy']:.4f} | {r['test_accuracy']:.4f} | {r['train_s']:.0f} s | "
                     f"{reached(r)} | {r['process_s']:.0f} s | {r['steps']} | {_distance(r)} | "
                     f"{r['eval_accuracy_per_epoch']} |"
                     for name, r in results.items())
    text = (f"# Image classification: 5 Fashion-MNIST classes, 120 grey 28x28 images per class\n\nMachine: "
            f"{described['cpu']}, {described['logical_cpus']} CPUs, bf16 native {described['bf16_native']}, "
            f"tailor {described['tailor_commit']}, {described['date_utc']} UTC. `tailor train "
            f"examples/images/clothes.yaml` (defaults: {json.dumps(results['pretrained']['settings'])}).\n\n"
            f"| start | accuracy (eval, 200) | accuracy (test, 500) | training | eval accuracy >= {TARGET} after "
            f"| whole process | steps | useful GFLOP/s | of the bf16 / fp32 peak | eval accuracy per epoch |\n"
            f"|---|---|---|---|---|---|---|---|---|---|\n{rows}\n\nPeaks: the fastest 2048^3 matmul, measured before "
            f"each contender: " + "; ".join(f"{n} bf16 {r['peak_bf16'] / 1e9:.0f}, fp32 {r['peak_fp32'] / 1e9:.0f} GFLOP/s"
                                             for n, r in results.items() if "peak_bf16" in r) + ". tailor trains images in fp32 on a CPU "
            "(channels-last; bf16 autocast measured slower for this network, issue 16).\n")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "image_clothes.md").write_text(text)
    (folder / "image_clothes.json").write_text(json.dumps({"machine": described, "results": results}, indent=2))
    print(text)


if __name__ == "__main__":
    main()
