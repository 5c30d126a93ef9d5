"""Errors a user can fix. The CLI prints them as one line and exits with code 2."""

from __future__ import annotations

from pathlib import Path


class TailorError(Exception):
    """Base class: the message says what is wrong and what to do about it."""


class ConfigError(TailorError):
    """The config file or a command-line override is invalid."""


class ModelError(TailorError):
    """A model cannot be found or loaded."""


class RunError(TailorError):
    """A run folder is missing, incomplete, or would be overwritten."""


class ExportError(TailorError):
    """An export cannot be written, or does not answer like the run's own model."""


class DataError(TailorError):
    """Bad input data, located as precisely as we can: file, line or row, field."""

    def __init__(
        self,
        file: str | Path,
        problem: str,
        fix: str,
        *,
        where: str | None = None,
        field: str | None = None,
    ):
        self.file, self.where, self.field, self.problem, self.fix = str(file), where, field, problem, fix
        location = ", ".join(part for part in (self.file, where, f"field '{field}'" if field else None) if part)
        super().__init__(f"{location}: {problem}. {fix}")
