"""Config -> validated train/eval Examples for a task. Reads files; never touches a model."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tailor.config import Config
from tailor.data.examples import Examples, select_fields, skipped_summary
from tailor.data.readers import read_table
from tailor.data.split import holdout_split


@dataclass
class TaskData:
    train: Examples
    eval: Examples
    labels: list[str]  # empty for tasks without labels
    eval_source: str  # "file" or "held-out fraction 0.1 of train"
    notes: list[str] = field(default_factory=list)  # things the user should know: skips, split fallbacks
    info: list[str] = field(default_factory=list)  # plain facts worth a line, e.g. the format detected
    extras: dict = field(default_factory=dict)  # task-specific inputs (see Task.read_extras)


def read_columns(path: Path, fields, cfg: Config, *, split: str = "train") -> Examples:
    """The named columns of a table file (CSV, JSONL, Parquet ...), validated per row."""
    return select_fields(read_table(path, encoding=cfg.data.encoding, split=split), fields, cfg.data.on_invalid)


def load_task_data(task, cfg: Config) -> TaskData:
    """Training and evaluation examples (a file, or a held-out fraction) and the label set."""
    train = task.read_inputs(cfg.data.train, cfg)
    notes = [note for note in [skipped_summary(train)] if note]
    info = list(train.notes)
    if isinstance(cfg.data.eval, float):
        train, evaluation, split_note = holdout_split(train, cfg.data.eval, cfg.train.seed, task.stratify_by)
        eval_source = f"held-out {cfg.data.eval:g} of {Path(cfg.data.train).name} (seed {cfg.train.seed})"
        notes += [split_note] if split_note else []
    else:
        evaluation = task.read_inputs(cfg.data.eval, cfg, split="validation")
        eval_source = str(cfg.data.eval)
        notes += [note for note in [skipped_summary(evaluation)] if note]
        info += evaluation.notes
    labels = task.fit_labels(train, [evaluation], label_column=cfg.data.label)
    return TaskData(train, evaluation, labels, eval_source, notes, info=info, extras=task.read_extras(cfg))
