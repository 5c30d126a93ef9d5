"""What distillation bought: the teacher, the student trained alone (the same config without the
teacher, in the run's student-alone/ folder) and the distilled student, side by side on the metric,
size on disk, parameters and the latency of one input, on data.test when given, else the
evaluation data. Training itself is training/distillation.py's loss inside the usual engine."""

from __future__ import annotations

from tailor.config import Config
from tailor.console import say
from tailor.runs import STUDENT_ALONE, RunDir


def train_student_alone(task, cfg: Config, data, run: RunDir) -> RunDir:
    """The same student, seed and data without the teacher: what distillation is measured against."""
    from tailor.verbs.train import train_on

    alone = cfg.model_copy(deep=True)
    alone.distill.teacher = None
    alone.output.dir = run.dir / STUDENT_ALONE
    alone.eval.explain_examples = 0
    say(f"training the student alone (distill.compare) into {alone.output.dir} ...")
    folder = RunDir(alone.output.dir)
    train_on(task, alone, data, folder, overwrite=True)
    return folder


def distillation_comparison(task, cfg: Config, data, run: RunDir, processor, teacher, alone: RunDir | None) -> dict:
    """{"data", "metric", "models": [{name, metric, parameters, size_mb, latency_ms}, ...]} for the
    teacher, the student alone (when trained) and the distilled student."""
    from tailor.exports.speed import Measurer, size_mb
    from tailor.verbs.common import on_device

    examples, where = (data.test, "data.test") if data.test is not None else (data.eval, "the evaluation data")
    measure = Measurer(task, cfg, processor, examples, batch_size=cfg.eval.batch_size)
    trust = {"trust_remote_code": cfg.model.trust_remote_code}
    rows = [_row(measure, "teacher", teacher.model, size_mb(teacher.location))]
    if alone is not None:
        rows.append(_row(measure, "student alone", task.load_model(alone.model, **trust), size_mb(alone.model)))
    rows.append(_row(measure, "distilled student", task.load_model(run.model, **trust), size_mb(run.model)))
    on_device(teacher.model)  # measured on the CPU; back where it answers
    return {"data": where, "metric": cfg.eval.metric, "teacher": str(cfg.distill.teacher),
            "temperature": cfg.distill.temperature, "alpha": cfg.distill.alpha, "models": rows}


def _row(measure, name: str, model, size: float) -> dict:
    measured = measure(name, model, size)
    return {"name": name, "metric": measured["metric"], "parameters": sum(p.numel() for p in model.parameters()),
            "size_mb": size, "latency_ms": measured["latency_ms"]["p50"], "rows_per_s": measured["rows_per_s"]}


def comparison_lines(comparison: dict) -> list[str]:
    """The comparison as aligned text lines (the CLI's summary; the report renders the same rows)."""
    metric = comparison["metric"]
    lines = [f"distillation, on {comparison['data']}:",
             f"{'':20}{metric:>12}{'parameters':>14}{'MB':>8}{'ms/input':>10}"]
    for row in comparison["models"]:
        lines.append(f"{row['name']:20}{row['metric']:12.4f}{row['parameters']:14,}{row['size_mb']:8.1f}"
                     f"{row['latency_ms']:10.2f}")
    return lines
