"""`tailor eval`: a trained run's metrics on another labelled file."""

from __future__ import annotations

import json
from pathlib import Path

from tailor.runs import RunDir
from tailor.verbs.common import load_run


def evaluate(run_dir: str | Path, data: str | Path, *, batch_size: int | None = None) -> dict:
    """Metrics of a trained run on another labelled file (same column names as in training)."""
    from tailor.tasks.base import HasLabels

    cfg, task, model, processor = load_run(run_dir)
    examples = task.read(Path(data), cfg, split="test")
    if isinstance(task, HasLabels):
        task.check_labels(examples, trained_labels(RunDir(Path(run_dir))), cfg)
    metrics = task.evaluate(model, processor, examples, cfg, batch_size or cfg.eval.batch_size)
    metrics["data"] = str(data)
    return metrics


def trained_labels(run: RunDir) -> list[str]:
    """The labels the run's model learned, as training recorded them."""
    from tailor.errors import RunError

    if not run.metrics.exists():
        raise RunError(f"{run.dir}: metrics.json is missing, so training did not finish; `tailor train CONFIG "
                       "--resume` completes it")
    return json.loads(run.metrics.read_text(encoding="utf-8"))["data"]["labels"]
