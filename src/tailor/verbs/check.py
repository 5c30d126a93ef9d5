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
    return task.check(load_task_data(task, cfg), processor, cfg)
