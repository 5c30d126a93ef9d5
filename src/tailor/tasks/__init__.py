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
}


def get_task(name: str) -> "Task":
    module_name, _, class_name = TASKS[name].partition(":")
    return getattr(importlib.import_module(module_name), class_name)()
