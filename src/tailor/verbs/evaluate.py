"""`tailor eval`: a trained run's metrics on another labelled file."""

from __future__ import annotations

from pathlib import Path

from tailor.verbs.common import load_run


def evaluate(run_dir: str | Path, data: str | Path, *, batch_size: int | None = None) -> dict:
    """Metrics of a trained run on another labelled file (same column names as in training)."""
    from tailor.tasks.base import HasLabels

    cfg, task, model, processor = load_run(run_dir)
    examples = task.read(Path(data), cfg, split="test")
    if isinstance(task, HasLabels):
        config = model.config  # the labels the model learned, in the order of its outputs
        task.check_labels(examples, [config.id2label[i] for i in range(config.num_labels)], cfg)
    metrics = task.evaluate(model, processor, examples, cfg, batch_size or cfg.eval.batch_size)
    metrics["data"] = str(data)
    return metrics

