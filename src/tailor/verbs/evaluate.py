"""`tailor eval`: a trained run's metrics on another labelled file."""

from __future__ import annotations

from pathlib import Path

from tailor.verbs.common import answering_folder, load_run


def evaluate(run_dir: str | Path, data: str | Path, *, batch_size: int | None = None, robustness: bool = False,
             noise_rate: float = 0.1, head: str | None = None) -> dict:
    """Metrics of a trained run on another labelled file (same column names as in training).
    `robustness`: also the headline metrics on copies of the file with about `noise_rate` of each
    text's words changed (mistyped, deleted, swapped for synonyms), under metrics["robustness"]. `head`:
    which head of a multi-task run is scored (the file has that head's columns)."""
    from tailor.evaluation import robustness as noise
    from tailor.tasks.base import HasLabels

    if robustness:
        noise.check_rate(noise_rate)
    cfg, task, model, processor = load_run(answering_folder(run_dir, head))
    if robustness:
        noise.check_applies(task)
    examples = task.read(Path(data), cfg, split="test")
    if isinstance(task, HasLabels):
        config = model.config  # the labels the model learned, in the order of its outputs
        task.check_labels(examples, [config.id2label[i] for i in range(config.num_labels)], cfg)
    batch_size = batch_size or cfg.eval.batch_size
    metrics = task.evaluate(model, processor, examples, cfg, batch_size)
    if robustness:
        metrics["robustness"] = noise.robustness(task, model, processor, examples, cfg, batch_size, metrics, noise_rate)
    metrics["data"] = str(data)
    return metrics
