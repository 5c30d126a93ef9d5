"""What every export shares: it is written to a temporary folder, checked there, and only then
moved to --out; one that fails its check is kept beside --out as OUT.rejected, with its
verification.json, and nothing is written to --out."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable

from tailor.console import say
from tailor.errors import ExportError
from tailor.io import atomic_write_json
from tailor.runs import require_free_output, save_folder_atomically, temporary_sibling

VERIFICATION_FILE = "verification.json"


class _Rejected(Exception):
    pass


def write_checked(out: Path, write: Callable[[Path], dict], overwrite: bool, what: str) -> dict:
    """`write(folder)` fills the folder and returns the verification report ("passed", and the
    "failures" that say why not)."""
    require_free_output(out, overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    report: dict = {}

    def checked(folder: Path) -> None:
        folder.mkdir(parents=True)
        report.update(write(folder))
        atomic_write_json(folder / VERIFICATION_FILE, report)
        if not report["passed"]:
            raise _Rejected()

    try:
        save_folder_atomically(out, checked)
    except _Rejected:
        rejected = out.with_name(out.name + ".rejected")
        shutil.rmtree(rejected, ignore_errors=True)
        temporary_sibling(out).rename(rejected)
        raise ExportError(f"the {what} export does not answer like the run's model ({'; '.join(report['failures'])}): "
                          f"{summary(report)}; nothing was written to {out} (the rejected export and its "
                          f"{VERIFICATION_FILE} are in {rejected})") from None
    say(f"verified against the run's model: {summary(report)}; {report['size_mb']} MB")
    return report


def require_format(task, format: str, runs_it: str) -> None:
    """A format only for the tasks that declare it (Task.export_formats); `runs_it` says which runs do."""
    from tailor.errors import ConfigError

    if format not in task.export_formats:
        raise ConfigError(f"--format {format} is for {runs_it}; this is a {task.name} run: export it with "
                          f"--format {' or --format '.join(task.export_formats)}")


def reload_run_data(task, cfg, hint: str = ""):
    """The run's data read again as training read it (the same held-out split), to check an export
    on; a file that has moved since is one line that says so."""
    from tailor.data.loading import load_task_data
    from tailor.errors import ConfigError

    try:
        return load_task_data(task, cfg)
    except (FileNotFoundError, OSError) as exc:
        raise ConfigError(f"the run's evaluation data cannot be read again to check the export ({exc}){hint}") from None


def summary(report: dict) -> str:
    """One line of the verification figures, as printed and as errors quote them."""
    if report["format"] == "gguf":
        from tailor.exports.gguf_folder import summary as gguf_summary

        return gguf_summary(report)
    from tailor.exports.onnx_folder import summary as onnx_summary

    return onnx_summary(report)
