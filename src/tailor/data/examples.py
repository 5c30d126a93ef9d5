"""From a Table of raw rows to validated Examples: the fields a task needs, nothing silently dropped."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from tailor.data.readers import Table
from tailor.errors import DataError

if TYPE_CHECKING:
    from tailor.tasks.base import Field

IGNORE = -100  # the label of a position that is not trained (torch's cross-entropy ignore_index)


@dataclass
class Examples:
    """Column-oriented examples keyed by role ("text", "label", ...), with where each came from."""

    path: Path
    columns: dict[str, list]
    where: list[str]
    skipped: Counter = field(default_factory=Counter)  # reason -> rows skipped
    notes: list[str] = field(default_factory=list)  # plain facts worth a line, e.g. the format detected
    warnings: list[str] = field(default_factory=list)  # what the user should act on, e.g. tags repaired

    def __len__(self) -> int:
        return len(self.where)

    def subset(self, indices: Iterable[int]) -> "Examples":
        indices = list(indices)
        return Examples(self.path, {k: [v[i] for i in indices] for k, v in self.columns.items()},
                        [self.where[i] for i in indices], Counter(self.skipped), list(self.notes),
                        list(self.warnings))

    def get(self, role: str) -> list | None:
        return self.columns.get(role)


def select_fields(table: Table, fields: list["Field"], on_invalid: str = "error") -> Examples:
    """Pick the task's fields out of every row. Empty text or a missing label is an error, or a
    counted skip when on_invalid="skip"."""
    for spec in fields:
        require_column(table.path, table.columns, spec.column, spec.config_key)
    columns: dict[str, list] = {spec.role: [] for spec in fields}
    where: list[str] = []
    skipped: Counter = Counter()
    for row, location in zip(table.rows, table.where):
        values, problem = _row_values(row, fields)
        if problem:
            spec, reason = problem
            if on_invalid == "skip":
                skipped[f"{reason} in '{spec.column}'"] += 1
                continue
            fix = "Put a number there (like 3.5)" if spec.kind == "number" else "Fill it in"
            raise DataError(table.path, reason, f"{fix} or remove the row (or set data.on_invalid=skip to skip "
                            "such rows)", where=location, field=spec.column)
        for role, value in values.items():
            columns[role].append(value)
        where.append(location)
    if not where:
        raise DataError(table.path, f"every row was skipped ({_describe(skipped)})", "Check the column settings")
    return Examples(table.path, columns, where, skipped)


def require_column(path: Path, present: list[str], column: str, config_key: str, what: str = "file") -> None:
    """A column the config names but the data lacks: the error lists the columns there are and the
    config key to set."""
    if column not in present:
        shown = ", ".join(present[:20]) + (" ..." if len(present) > 20 else "")
        raise DataError(path, "no such column", f"The {what} has columns: {shown}. Set {config_key}=<one of them>",
                        field=column)


def _row_values(row: dict, fields: list["Field"]):
    values = {}
    for spec in fields:
        value = row.get(spec.column)
        if spec.kind == "label":
            value = normalize_label(value)
            if value is None:
                return None, (spec, "the label is empty")
        elif spec.kind == "value":  # typed values (token lists, spans, numbers) stay as the file has them
            if value is None and spec.required:
                return None, (spec, "the value is missing")
        elif spec.kind == "number":
            value, reason = _number(value)
            if reason:
                return None, (spec, reason)
        elif value is None or (isinstance(value, str) and not value.strip()):
            if spec.required:
                return None, (spec, "the text is empty")
            value = None
        else:
            value = value if isinstance(value, str) else str(value)
        values[spec.role] = value
    return values, None


def _number(value) -> tuple[float | None, str | None]:
    """A finite number from a file's cell (a number, or text such as "3.5"), or why it is not one."""
    import math

    if value is None or (isinstance(value, float) and value != value) or (isinstance(value, str) and not value.strip()):
        return None, "the number is missing"
    if isinstance(value, bool):
        return None, f"'{value}' is not a number"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None, f"'{str(value)[:40]}' is not a number"
    if not math.isfinite(number):
        return None, f"'{value}' is not a finite number"
    return number, None


def normalize_label(value) -> str | None:
    """Labels are compared as strings, so 1, 1.0 and "1" in different files are the same class."""
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        if value != value:  # NaN: an empty cell in Parquet/pandas exports
            return None
        if value.is_integer():
            value = int(value)
    text = str(value).strip()
    return text or None


def class_set(train: Examples, cfg) -> list[str]:
    """The classes of a classification task, from its training labels, in a stable order: integer-like
    labels numerically (2 before 10), others alphabetically after them."""
    labels = sorted(set(train.columns["label"]), key=_label_order)
    if len(labels) < 2:
        raise DataError(train.path, f"every one of the {len(train)} rows has the label '{labels[0]}'",
                        "A classifier needs at least two classes; check data.label points at the label column",
                        field=cfg.data.label)
    return labels


def check_known_classes(examples: Examples, labels: list[str], cfg) -> None:
    """An evaluation label the model never learned is an error at its row, not a silent miss."""
    allowed = set(labels)
    for label, where in zip(examples.columns.get("label", []), examples.where):
        if label not in allowed:
            raise DataError(examples.path, f"label '{label}' never appears in the training data (known: "
                            f"{', '.join(labels[:10])})", "Add training examples with this label or remove "
                            "these rows", where=where, field=cfg.data.label)


def _label_order(label: str):
    try:
        return (0, int(label), "")
    except ValueError:
        return (1, 0, label)


def _describe(skipped: Counter) -> str:
    return ", ".join(f"{count} with {reason}" for reason, count in skipped.items())


def skipped_summary(examples: Examples) -> str | None:
    if not examples.skipped:
        return None
    total = sum(examples.skipped.values())
    return f"{examples.path.name}: skipped {total} row{'s' if total != 1 else ''} ({_describe(examples.skipped)})"
