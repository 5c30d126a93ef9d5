"""`tailor data check`: validate a config's data without training and summarise it."""

from __future__ import annotations

from pathlib import Path

from tailor.config import Config
from tailor.errors import ConfigError
from tailor.verbs.common import load_processor, model_source, resolved


def check(config: str | Path | Config, overrides: list[str] = ()) -> dict:
    """A summary dict with `lines` to print and `warnings` (see the task's check)."""
    from tailor.data.loading import load_task_data
    from tailor.tasks.base import HasDataCheck

    cfg, task = resolved(config, overrides)
    if not isinstance(task, HasDataCheck):
        raise ConfigError(f"task {task.name} has no data check yet; `tailor train` still validates its data")
    cfg.data.on_invalid = "skip"  # count bad rows instead of stopping at the first one
    cfg.data.sampling = "none"  # the data as it is, which is what the check describes
    processor = load_processor(task, model_source(cfg), cfg)
    data = load_task_data(task, cfg)
    report = task.check(data, processor, cfg)
    _which_model_reads_it(report, task, cfg, data)
    return report


def _which_model_reads_it(report: dict, task, cfg: Config, data) -> None:
    """Every embedded model that can learn the task, measured on the training text (unknown tokens, byte
    pieces), and what `model: auto` does with that (the task's own check warns when its model cannot read it)."""
    from tailor.data.readability import better_reader, embedded_readings, texts_of

    texts = texts_of(data.train)
    readings = embedded_readings(texts, task.name) if texts else []
    if len(readings) < 2:
        return
    better = better_reader(readings, task.default_model)
    report["readers"] = {r.model: {"unknown": r.unknown, "byte_pieces": r.byte_pieces,
                                   "tokens_per_character": r.tokens_per_character} for r in readings}
    report["lines"].append("embedded models on this text: " + "; ".join(r.line() for r in readings))
    if better == task.default_model:
        report["lines"].append(f"reads it best: {better} (`model: auto` picks it)")
    else:
        report["lines"].append(f"reads it best: {better}; {task.default_model}, the default, cannot read it, so "
                               f"`model: auto` tries {', '.join(r.model for r in readings)} on a sample and trains "
                               "the one that scores best")
