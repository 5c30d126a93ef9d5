"""The ONNX export folder: what it holds, how it is checked before it is handed over, and how
`tailor predict` / `tailor eval` load it back.

    OUT/model.onnx          the graph (fp32, f16 or int8)
    OUT/config.json         the model's config (label names), tokenizer or image-processor files
    OUT/tailor.yaml         the run's config: task, columns, lengths, what predict needs to read inputs
    OUT/verification.json   the check against the run's own model (also printed)
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from tailor.config import Config, load_config
from tailor.errors import ConfigError, ExportError
from tailor.exports.checked import reload_run_data, require_format, write_checked
from tailor.exports.onnx import MODEL_FILE, OnnxModel, example_batch, exportable, write_graph
from tailor.exports.verify import Agreement, compare
from tailor.runs import RunDir

CONFIG_FILE = "tailor.yaml"
# int8 rounds every weight: some answers near a decision boundary flip. Below this share of
# identical held-out answers the export is refused (--min-agreement); fp32 and f16 must agree on all.
INT8_MIN_AGREEMENT = 0.95


def is_onnx_export(folder: Path) -> bool:
    return (folder / MODEL_FILE).is_file() and (folder / CONFIG_FILE).is_file()


def load_onnx_export(folder: Path):
    """(config, task, model, processor) as `verbs.common.load_run` returns them, the model being the
    ONNX graph run by onnxruntime."""
    from tailor.tasks import get_task

    cfg = load_config(folder / CONFIG_FILE)
    task = get_task(cfg.task)
    return cfg, task, OnnxModel(folder), task.processor(str(folder), cfg)


def write_onnx_export(run_dir: Path, out: Path, variant: str, *, data: Path | None = None,
                      min_agreement: float | None = None, overwrite: bool = False) -> dict:
    """Trace the run's model, check the graph against it on held-out inputs, and write the folder;
    returns the verification figures (checked.py: a failed check writes nothing to `out`)."""
    from tailor.evaluation.classification import model_labels
    from tailor.verbs.common import load_run

    cfg, task, model, processor = load_run(run_dir)
    require_format(task, "onnx", "the classic tasks' runs")
    threshold = _threshold(variant, min_agreement)
    examples, source, targets = held_out(task, cfg, data)
    labels = model_labels(model) if targets else None
    encoded, collate = task.encode(examples, processor, cfg, labels), task.collator(processor, cfg)
    model = model.to("cpu")
    batch = cfg.eval.batch_size

    def write(folder: Path) -> dict:
        started = time.perf_counter()
        try:
            write_graph(exportable(model, task), example_batch(_first_batch(encoded, collate, batch)),
                        folder / MODEL_FILE, variant)
        except Exception as exc:  # an architecture torch.export cannot trace: say so in one line (--debug: why)
            raise ExportError(f"torch's ONNX exporter could not trace this {model.config.model_type} model "
                              f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
                              "export it with --format hf") from exc
        model.config.save_pretrained(folder)
        processor.save_pretrained(folder)
        shutil.copy(RunDir(run_dir).config, folder / CONFIG_FILE)
        exported = OnnxModel(folder)
        agreement = compare(exportable(model, task), exported, encoded, collate, batch, spans=task.targets == "spans")
        report = _report(variant, source, agreement, threshold, folder, time.perf_counter() - started)
        if targets:
            report["metric"] = _metric(task, cfg, model, exported, processor, examples)
        return report

    return write_checked(out, write, overwrite, f"{variant} ONNX")


def _threshold(variant: str, min_agreement: float | None) -> float:
    if variant != "int8":
        if min_agreement is not None and min_agreement < 1:
            raise ConfigError(f"--min-agreement is for --quantize int8: a {variant} export must give the run's "
                              "answer on every held-out row")
        return 1.0
    return INT8_MIN_AGREEMENT if min_agreement is None else min_agreement


def held_out(task, cfg: Config, data: Path | None):
    """(examples, where they come from, whether they carry targets): the run's evaluation data, or
    `data` (labelled or not)."""
    if data is not None:
        examples = task.read(Path(data), cfg, targets=False)
        return examples, str(data), False
    loaded = reload_run_data(task, cfg, "; give inputs to check it on with --data FILE")
    return loaded.eval, loaded.eval_source, True


def _first_batch(encoded, collate, batch_size: int) -> dict:
    """The shortest rows, collated: the example the graph is traced on (its sizes stay dynamic)."""
    from tailor.training.inference import length_order

    return collate([encoded.dataset[i] for i in length_order(encoded.lengths)[:batch_size]])


def _report(variant: str, source: str, agreement: Agreement, threshold: float, folder: Path, seconds: float) -> dict:
    import onnxruntime

    failures = [] if agreement.share >= threshold else [
        f"identical answers {agreement.share:.2%} < the {threshold:.0%} required"]
    return {"format": "onnx", "variant": variant, "reference": "the run's model/ in fp32 (PyTorch)",
            "checked_on": source, **agreement.as_dict(), "required_agreement": threshold,
            "passed": not failures, "failures": failures,
            "size_mb": round((folder / MODEL_FILE).stat().st_size / 2**20, 2),
            "seconds": round(seconds, 1), "onnxruntime": onnxruntime.__version__}


def _metric(task, cfg: Config, model, exported, processor, examples) -> dict:
    """The run's eval metric for both models on the held-out rows."""
    name = cfg.eval.metric
    scores = {who: task.evaluate(m, processor, examples, cfg, cfg.eval.batch_size).get(name)
              for who, m in (("model", model), ("export", exported))}
    return {"name": name, **{who: round(value, 6) if isinstance(value, float) else value
                             for who, value in scores.items()}}


def summary(report: dict) -> str:
    """One line of the verification figures, as printed and as errors quote them."""
    line = (f"identical answers on {report['rows_identical']:,} of {report['rows']:,} held-out rows "
            f"({report['agreement']:.2%}), largest logit difference {report['max_abs_logit_difference']:.2g}")
    metric = report.get("metric") or {}
    if isinstance(metric.get("model"), float) and isinstance(metric.get("export"), float):
        line += f"; {metric['name']} {metric['export']:.4f} (the run's model: {metric['model']:.4f})"
    return line

