"""Task registry: one file per task behind the Task protocol; the registry maps names to them.

Entries are import strings so that `tailor --help` and config validation do not import torch.
Adding a task = one new file + one line here + its tests (tests/test_registry.py runs over all).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tailor.tasks.base import Task

TASKS: dict[str, str] = {
    "text-classification": "tailor.tasks.text_classification:TextClassification",
    "chat": "tailor.tasks.chat:Chat",
}


def get_task(name: str) -> "Task":
    module_name, _, class_name = TASKS[name].partition(":")
    return getattr(importlib.import_module(module_name), class_name)()


def fill_task_defaults(cfg, task: "Task") -> None:
    """What the config leaves open (None) is decided by the task, then the model; the filled-in
    values are what config.yaml in the run folder records."""
    from tailor.models.catalog import default_lr

    cfg.model.name = cfg.model.name or task.default_model
    for dotted, value in task.defaults.items():
        *sections, key = dotted.split(".")
        node = cfg
        for section in sections:
            node = getattr(node, section)
        if getattr(node, key) is None:
            setattr(node, key, value)
    cfg.train.lr = cfg.train.lr or default_lr(cfg.model.name, cfg.method)
