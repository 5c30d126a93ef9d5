"""`tailor compress`: smaller or faster variants of a classic task's run, each measured beside the
original on this CPU (size on disk, latency of one input, throughput at batch 32, the run's eval
metric on its held-out rows), so a user picks with numbers, and a variant that gains nothing says so.

Variants:
- ONNX fp32 and int8 (onnxruntime's dynamic quantization), written as `tailor export` writes them;
- the top transformer layers dropped (structured pruning: fewer blocks run), as is, and after a
  short recovery fine-tune (a normal `tailor train` from the pruned model, same data), and that
  recovered model as int8 ONNX.
Unstructured (magnitude) sparsity is not offered: neither PyTorch's CPU kernels nor onnxruntime's
run a sparse dense-layout matrix any faster. Nor is torchao's int8: its dynamic int8 quantization
(0.18, eager, no torch.compile) answered a MiniLM input in 28.9 ms against 15.9 ms in fp32 here.
"""

from __future__ import annotations

from pathlib import Path

from tailor.console import say
from tailor.errors import ConfigError
from tailor.io import atomic_write_json, atomic_write_text
from tailor.runs import require_free_output

THROUGHPUT_BATCH = 32
GAIN = 0.10  # smaller or faster by at least this share counts as a gain


def compress(run_dir: str | Path, out: str | Path, *, keep_layers: int | None = None, recover_epochs: float = 1.0,
             data: str | Path | None = None, overwrite: bool = False) -> dict:
    """Write the variants under `out` and return the comparison (also out/compression.{md,json}).
    The variants are scored on the run's evaluation data, which also picked the original's (and the
    recovered model's) best checkpoint; `data`, a labelled file neither saw, scores them unbiased."""
    from tailor.exports.onnx_folder import held_out
    from tailor.exports.pruning import layer_stack
    from tailor.exports.speed import Measurer, size_mb
    from tailor.verbs.common import load_run

    run_dir, out = Path(run_dir), Path(out)
    cfg, task, model, processor = load_run(run_dir)
    if "onnx" not in task.export_formats:
        raise ConfigError(f"compress is for the classic tasks' runs; this is a {task.name} run (for a chat model, "
                          "`tailor export --format gguf --quantize q4_0` writes a smaller file)")
    require_free_output(out, overwrite)
    stack = layer_stack(model)
    keep = _layers_to_keep(stack, keep_layers)  # checked before anything is written or measured
    out.mkdir(parents=True, exist_ok=True)
    if data is not None:
        examples, source = task.read(Path(data), cfg, split="test"), str(data)
        from tailor.evaluation.classification import model_labels

        task.check_labels(examples, model_labels(model), cfg)  # a class the model never learned: one line
    else:
        examples, source, _ = held_out(task, cfg, None)
    measure = Measurer(task, cfg, processor, examples, THROUGHPUT_BATCH)
    rows = [measure("original (PyTorch fp32)", model, size_mb(run_dir / "model"))]
    rows += [measure(f"ONNX {variant}", *_onnx(run_dir, out / f"onnx-{variant}", variant)) for variant in ("fp32", "int8")]
    if keep is None:
        say(f"no layers to drop: this {model.config.model_type} model has no stack of transformer layers")
    else:
        rows += _pruned(model, processor, out, cfg, measure, keep, recover_epochs)
    result = {"run": str(run_dir), "checked_on": source, "metric": cfg.eval.metric, "variants": _with_gains(rows)}
    atomic_write_json(out / "compression.json", result)
    table = _table(result)
    atomic_write_text(out / "compression.md", f"# Compressed variants of {run_dir.name}\n\n{_machine()}\n\n{table}\n")
    say(table)
    return result


def _layers_to_keep(stack, requested: int | None) -> int | None:
    """How many layers the pruned variant keeps (half by default); None when nothing can be dropped."""
    if stack is None:
        if requested is not None:
            raise ConfigError("--keep-layers: this model has no stack of transformer layers to drop")
        return None
    count = len(stack[2])
    keep = requested if requested is not None else max(1, count // 2)
    if not 0 < keep < count:
        raise ConfigError(f"--keep-layers {keep}: the model has {count} layers; keep between 1 and {count - 1}")
    return keep


def _onnx(run_dir: Path, folder: Path, variant: str):
    from tailor.exports.onnx import MODEL_FILE, OnnxModel
    from tailor.exports.onnx_folder import write_onnx_export

    # agreement is reported in the folder's verification.json; here the metric column judges it
    write_onnx_export(run_dir, folder, variant, min_agreement=0.0 if variant == "int8" else None, overwrite=True)
    return OnnxModel(folder), round((folder / MODEL_FILE).stat().st_size / 2**20, 1)


def _pruned(model, processor, out: Path, cfg, measure, keep: int, recover_epochs: float) -> list[dict]:
    """A copy of the run's model with its first `keep` layers, as is and after a recovery fine-tune
    (`measure`: an exports.speed.Measurer)."""
    import copy

    from tailor.exports.pruning import keep_bottom_layers
    from tailor.exports.speed import size_mb
    from tailor.verbs.common import load_run

    model = keep_bottom_layers(copy.deepcopy(model).to("cpu"), keep)
    folder = out / f"layers-{keep}"
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    rows = [measure(f"{keep} layers, no recovery", model, size_mb(folder))]
    if recover_epochs > 0:
        recovered = _recover(folder, out / f"layers-{keep}-recovered", cfg, recover_epochs)
        _, _, model, _ = load_run(recovered)
        rows.append(measure(f"{keep} layers, recovered ({recover_epochs:g} epoch)", model, size_mb(recovered / "model")))
        rows.append(measure(f"{keep} layers, recovered, ONNX int8",
                            *_onnx(recovered, out / f"layers-{keep}-recovered-onnx-int8", "int8")))
    return rows


def _recover(pruned: Path, run_folder: Path, cfg, epochs: float) -> Path:
    """A normal tailor run from the pruned model on the run's own data and settings."""
    from tailor.config import load_config
    from tailor.verbs.train import train

    settings = cfg.model_dump(exclude_unset=True)
    settings["model"] = {**settings.get("model", {}), "name": str(pruned)}
    # the epochs asked for, not a step limit the original run may have had
    settings["train"] = {**settings.get("train", {}), "epochs": epochs, "max_steps": None}
    settings["output"] = {**settings.get("output", {}), "dir": str(run_folder)}
    say(f"recovery fine-tune of the pruned model: {epochs:g} epoch -> {run_folder}")
    return train(load_config(None, base=settings), overwrite=True).dir


def _with_gains(rows: list[dict]) -> list[dict]:
    """Each variant against the original: what it gains (smaller, faster) or that it gains nothing."""
    base = rows[0]
    for row in rows[1:]:
        gains = []
        if row["size_mb"] <= (1 - GAIN) * base["size_mb"]:
            gains.append(f"{base['size_mb'] / row['size_mb']:.1f}x smaller")
        if row["latency_ms"]["p50"] <= (1 - GAIN) * base["latency_ms"]["p50"]:
            gains.append(f"{base['latency_ms']['p50'] / row['latency_ms']['p50']:.1f}x faster at batch 1")
        if row["rows_per_s"] >= (1 + GAIN) * base["rows_per_s"]:
            gains.append(f"{row['rows_per_s'] / base['rows_per_s']:.1f}x the throughput")
        row["gain"] = ", ".join(gains) or "no gain"
        row["metric_change"] = round(row["metric"] - base["metric"], 4)
    base["gain"], base["metric_change"] = "-", 0.0
    return rows


def _table(result: dict) -> str:
    metric = result["metric"]
    lines = [f"| variant | size (MB) | latency p50 / p95 (ms, batch 1) | rows/s (batch {THROUGHPUT_BATCH}) | "
             f"{metric} | change | gain |", "|---|---|---|---|---|---|---|"]
    for row in result["variants"]:
        lines.append(f"| {row['variant']} | {row['size_mb']:g} | {row['latency_ms']['p50']:g} / "
                     f"{row['latency_ms']['p95']:g} | {row['rows_per_s']:g} | {row['metric']:.4f} | "
                     f"{row['metric_change']:+.4f} | {row['gain']} |")
    return "\n".join(lines) + f"\n\n{metric} on {result['checked_on']}."


def _machine() -> str:
    import datetime
    import os
    import platform

    import torch

    cpu = platform.processor() or platform.machine()
    try:  # the model name says more than the architecture, where Linux tells it
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    features = [name for name, present in (("avx512_bf16", torch.cpu._is_avx512_bf16_supported()),
                                           ("amx", torch.cpu._is_amx_tile_supported())) if present]
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (f"Machine: {cpu}, {os.cpu_count()} CPUs{', ' + ', '.join(features) if features else ''}; torch "
            f"{torch.__version__} with {torch.get_num_threads()} threads; {when}. One measurement per variant "
            "(latency: the median and 95th percentile over 64 held-out rows, one at a time, after 3 warm-up rows; "
            "throughput: the median of 3 passes over up to 512 rows).")
