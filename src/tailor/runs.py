"""The run folder: what a user gets back, written so that a kill never leaves it half-made.

    runs/<name>/
      config.yaml                 resolved config (absolute paths): the run can be repeated
      checkpoints/checkpoint-N/   resumable with `tailor train ... --resume`
      model/                      loads with plain transformers; safetensors; model card
      metrics.json                final metrics: fine-tuned vs baselines
      history.json                every logged training/evaluation step
      report.html                 curves, confusion matrix, per-class table (opens offline)
      answering/                  made when first answering: precision.json (what `--precision auto`
                                  checked and chose), int8/ (the int8 graph)

A `--folds` run holds one run folder per fold (fold-1/ ...), a search one per trial (trial-0/ ...),
beside its summary config.yaml, metrics.json and report.html; a distilled run may hold the student
trained alone (student-alone/), a run folder too; a multi-task run, each head as a run of its own task
(head-NAME/, made on first use of --head NAME) and each head's task trained alone (alone-NAME/).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from tailor.errors import RunError


@dataclass(frozen=True)
class RunDir:
    dir: Path

    @property
    def config(self) -> Path:
        return self.dir / "config.yaml"

    @property
    def checkpoints(self) -> Path:
        return self.dir / "checkpoints"

    @property
    def model(self) -> Path:
        return self.dir / "model"

    @property
    def metrics(self) -> Path:
        return self.dir / "metrics.json"

    @property
    def history(self) -> Path:
        return self.dir / "history.json"

    @property
    def report(self) -> Path:
        return self.dir / "report.html"

    @property
    def answering(self) -> Path:
        """What answering builds from the model and keeps: auto's precision check, the int8 graph."""
        return self.dir / "answering"

    def check_can_start(self, *, resume: bool, overwrite: bool) -> None:
        """Refuse to silently replace a previous run; the user chooses --resume or --overwrite.
        Called before anything slow, and again by prepare()."""
        used = self.dir.is_dir() and any(self.dir.iterdir())
        if resume:
            if not self.checkpoints.is_dir():
                raise RunError(f"{self.dir}: nothing to resume (no checkpoints/ folder); run without --resume")
            return
        if used and not overwrite:
            raise RunError(f"{self.dir} already holds a run; continue it with --resume, replace it with "
                           "--overwrite, or choose another folder with output.dir=...")
        if used and not self.looks_like_a_run():
            raise RunError(f"{self.dir} is not empty and is not a tailor run folder; --overwrite only replaces "
                           "runs. Choose another folder with output.dir=...")

    def prepare(self, *, resume: bool, overwrite: bool) -> None:
        self.check_can_start(resume=resume, overwrite=overwrite)
        if not resume and self.dir.is_dir() and any(self.dir.iterdir()):
            shutil.rmtree(self.dir)
        self.dir.mkdir(parents=True, exist_ok=True)

    def looks_like_a_run(self) -> bool:
        """Our config.yaml, and nothing in the folder that a run does not write (so a run stopped
        before its first checkpoint can be replaced, but a folder of the user's own files cannot)."""
        ours = {self.config, self.checkpoints, self.model, self.metrics, self.history, self.report, self.answering,
                self.dir / BEST_CONFIG}
        return self.config.exists() and all(p in ours or p.name.startswith(f".{self.model.name}.") or
                                            _is_part(p) for p in self.dir.iterdir())

    def require_model(self) -> Path:
        saved = [p for p in self.model.iterdir() if p.name != "README.md"] if self.model.is_dir() else []
        if not saved:
            raise RunError(f"{self.dir}: no trained model in {self.model} (did training finish? "
                           "`tailor train CONFIG --resume` continues an interrupted run)")
        if not self.config.exists():
            raise RunError(f"{self.dir}: config.yaml is missing; is this a tailor run folder?")
        return self.model


def _is_part(path: Path) -> bool:
    """A run folder inside a run: a fold of `--folds`, a trial of `tailor search`."""
    return path.is_dir() and path.name.startswith(PART_PREFIXES) and RunDir(path).config.exists()


FOLD_PREFIX, TRIAL_PREFIX = "fold-", "trial-"
BEST_CONFIG = "best.yaml"  # what a search leaves beside its trials
STUDENT_ALONE = "student-alone"  # a distilled run's student trained without its teacher (distill.compare)
# A multi-task run's head as a run of its task (made on first `--head NAME`), and its task trained alone.
HEAD_PREFIX, ALONE_PREFIX = "head-", "alone-"
PART_PREFIXES = (FOLD_PREFIX, TRIAL_PREFIX, STUDENT_ALONE, HEAD_PREFIX, ALONE_PREFIX)


def require_free_output(out: Path, overwrite: bool) -> None:
    """An output folder (export, compress) is written only where nothing is, or with --overwrite."""
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise RunError(f"{out} exists and is not empty; choose another --out or pass --overwrite")


def temporary_sibling(target: Path) -> Path:
    """Where save_folder_atomically builds `target` before it moves into place."""
    return target.with_name(f".{target.name}.tmp")


def save_folder_atomically(target: Path, write) -> None:
    """`write(tmp_dir)` fills a sibling temp folder, which then replaces `target` in two renames."""
    tmp = temporary_sibling(target)
    old = target.with_name(f".{target.name}.old")
    for leftover in (tmp, old):
        shutil.rmtree(leftover, ignore_errors=True)
    write(tmp)
    if target.exists():
        target.rename(old)
    tmp.rename(target)
    shutil.rmtree(old, ignore_errors=True)
