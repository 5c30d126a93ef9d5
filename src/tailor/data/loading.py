"""Config -> validated train/eval(/test) Examples for a task. Reads files; never touches a model."""

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
    notes: list[str] = field(default_factory=list)  # things the user should know: skips, repairs, split fallbacks
    info: list[str] = field(default_factory=list)  # plain facts worth a line, e.g. the format detected
    extras: dict = field(default_factory=dict)  # task-specific inputs (see HasExtras)
    test: Examples | None = None  # data.test: scored once at the end, never used to pick a checkpoint
    train_as_read: Examples | None = None  # the training split before data.sampling rebalanced it (None: not resampled)

    @property
    def train_unsampled(self) -> Examples:
        """The training split as the user's data has it (class counts before any resampling)."""
        return self.train_as_read if self.train_as_read is not None else self.train


def read_columns(path: Path, fields, cfg: Config, *, split: str = "train") -> Examples:
    """The named columns of a table file (CSV, JSONL, Parquet ...), validated per row."""
    return select_fields(read_table(path, encoding=cfg.data.encoding, split=split), fields, cfg.data.on_invalid)


def load_task_data(task, cfg: Config) -> TaskData:
    """Training and evaluation examples (a file, or a held-out fraction), the test file if any,
    and the label set."""
    from tailor.tasks.base import HasOwnData

    if isinstance(task, HasOwnData):  # its files are named in its own section (multi-task: a file per head)
        return task.load_data(cfg)
    train, labels, notes, info = _read_train(task, cfg)
    if isinstance(cfg.data.eval, float):
        train, evaluation, split_note = holdout_split(train, cfg.data.eval, cfg.train.seed, task.stratify_by)
        eval_source = f"held-out {cfg.data.eval:g} of {Path(cfg.data.train).name} (seed {cfg.train.seed})"
        notes += [split_note] if split_note else []
    else:
        evaluation = task.read(cfg.data.eval, cfg, split="validation")
        eval_source = str(cfg.data.eval)
        notes += _messages(evaluation)
        info += evaluation.notes
        _check_labels(task, evaluation, labels, cfg)
    test = _read_test(task, cfg, labels, notes, info)
    if cfg.data.max_samples:
        train, evaluation, test = (_at_most(examples, cfg, what, notes) for examples, what in
                                   ((train, "training"), (evaluation, "evaluation"), (test, "test")))
    extras = _read_extras(task, cfg)
    return _with_training_split(task, cfg, train, TaskData(train, evaluation, labels, eval_source, notes, info=info,
                                                           extras=extras, test=test))


def load_fold_data(task, cfg: Config, folds: int) -> list[TaskData]:
    """K-fold cross-validation: the training file cut into `folds` parts (stratified by label where the
    task has one, seeded by train.seed), each part held out once while the others train. data.eval is
    not used (each fold is scored on its held-out part); data.test, when given, is read once."""
    from tailor.data.split import kfold_splits
    from tailor.errors import ConfigError
    from tailor.tasks.base import HasOwnData

    if isinstance(task, HasOwnData):
        raise ConfigError(f"--folds: not for task {task.name} (its data is several files, one per head); train "
                          "each head's task with --folds on its own file instead")
    whole, labels, notes, info = _read_train(task, cfg)
    whole = _at_most(whole, cfg, "training", notes)
    if not isinstance(cfg.data.eval, float):
        notes.append(f"data.eval ({cfg.data.eval}) is not used with --folds: each fold is scored on its held-out "
                     "part of the training file")
    test = _read_test(task, cfg, labels, notes, info)
    extras = _read_extras(task, cfg)
    splits, split_note = kfold_splits(whole, folds, cfg.train.seed, task.stratify_by)
    notes += [split_note] if split_note else []
    result = []
    for number, (train, held_out) in enumerate(splits, start=1):
        source = f"fold {number} of {folds}: {len(held_out):,} rows of {Path(cfg.data.train).name} (seed {cfg.train.seed})"
        fold = TaskData(train, held_out, labels, source, list(notes), info=list(info), extras=extras, test=test)
        result.append(_with_training_split(task, cfg, train, fold))
    return result


def _read_train(task, cfg: Config):
    """(training examples, label set, notes, info)."""
    from tailor.tasks.base import HasLabels

    train = task.read(cfg.data.train, cfg)
    # From the whole file when part of it is held out: a class (or entity type) that the split puts
    # only in the held-out part is still one the model must know, not an error in the user's file.
    labels = task.label_set(train, cfg) if isinstance(task, HasLabels) else []
    return train, labels, _messages(train), list(train.notes)


def _at_most(examples: Examples | None, cfg: Config, what: str, notes: list[str]) -> Examples | None:
    """data.max_samples examples drawn at random (seeded; in file order), said, not silent."""
    limit = cfg.data.max_samples
    if examples is None or not limit or len(examples) <= limit:
        return examples
    import random

    kept = sorted(random.Random(cfg.train.seed).sample(range(len(examples)), limit))
    notes.append(f"data.max_samples={limit}: {limit:,} of {len(examples):,} {what} examples, drawn at random "
                 f"(seed {cfg.train.seed}); the other {len(examples) - limit:,} are left out")
    return examples.subset(kept)


def _read_test(task, cfg: Config, labels: list[str], notes: list[str], info: list[str]) -> Examples | None:
    if cfg.data.test is None:
        return None
    test = task.read(cfg.data.test, cfg, split="test")
    notes += _messages(test)
    info += test.notes
    _check_labels(task, test, labels, cfg)
    return test


def _check_labels(task, examples: Examples, labels: list[str], cfg: Config) -> None:
    if labels:
        task.check_labels(examples, labels, cfg)


def _read_extras(task, cfg: Config) -> dict:
    from tailor.tasks.base import HasExtras

    return task.read_extras(cfg) if isinstance(task, HasExtras) else {}


def _with_training_split(task, cfg: Config, train: Examples, data: TaskData) -> TaskData:
    """data.sampling rebalances the training split, after the split: held-out rows are never copies
    of training rows."""
    if cfg.data.sampling != "none":
        from tailor.data.sampling import balance_keys, resample

        data.train_as_read = train
        data.train, sampling_note = resample(train, cfg.data.sampling, balance_keys(task.targets, train),
                                             cfg.train.seed)
        data.notes.append(sampling_note)
    return data


def _messages(examples: Examples) -> list[str]:
    """What a user should act on about one file: rows skipped, values repaired."""
    return [note for note in [skipped_summary(examples)] if note] + list(examples.warnings)
