"""`tailor train CONFIG --folds K`: K-fold cross-validation.

The training file is cut into K stratified folds; each fold is held out once while a run trains on
the others for the configured epochs, with no early stopping and no return to a best checkpoint,
because the held-out fold is what scores it (picking by it would flatter the score). One ordinary
run folder per fold (fold-1/ ...), and in output.dir the summary: metrics.json (mean, standard
deviation and a 95 % interval per metric) and report.html (the fold table).

    runs/<name>/
      config.yaml     the resolved config the folds share (before the per-fold settings)
      fold-1/ ...     a complete run each: model/, metrics.json, report.html, checkpoints/
      metrics.json    the summary
      report.html

--resume skips the folds that finished and resumes the one that was interrupted.
"""

from __future__ import annotations

from pathlib import Path

from tailor.config import Config, save_config
from tailor.console import say
from tailor.distributed import barrier, is_main_process
from tailor.errors import RunError
from tailor.io import atomic_write_json, atomic_write_text
from tailor.runs import FOLD_PREFIX, RunDir
from tailor.verbs.common import resolved
from tailor.verbs.train import RunResult, train_on


def cross_validate(config: str | Path | Config, overrides: list[str] = (), *, folds: int, resume: bool = False,
                   overwrite: bool = False) -> RunResult:
    """Train one run per fold; returns output.dir and the summary metrics (empty off the main process)."""
    from tailor.data.loading import load_fold_data

    cfg, task = resolved(config, overrides)
    root = RunDir(Path(cfg.output.dir))
    _check_can_start(root, folds, resume=resume, overwrite=overwrite)
    fold_data = load_fold_data(task, cfg, folds)  # every input checked before the folder is touched
    if is_main_process():
        if not resume:
            root.prepare(resume=False, overwrite=overwrite)
        save_config(cfg, root.config)
    barrier()
    fold_metrics = []
    for number, data in enumerate(fold_data, start=1):
        run = RunDir(root.dir / f"{FOLD_PREFIX}{number}")
        if run.metrics.is_file():  # finished before an interruption: --resume keeps it
            fold_metrics.append(_finished_fold(run, data.eval_source))
            say(f"fold {number} of {folds}: finished earlier, kept ({run.dir})")
            continue
        say(f"fold {number} of {folds}: training on {len(data.train):,} rows, holding out {len(data.eval):,}")
        again = resume and run.checkpoints.is_dir()
        result = train_on(task, fold_settings(cfg, run.dir), data, run, resume=again, overwrite=not again)
        fold_metrics.append(result.metrics)
    if not is_main_process():
        return RunResult(root.dir, {})
    summary = _summary(task, cfg, folds, fold_metrics, fold_data[0])
    atomic_write_json(root.metrics, summary)
    from tailor.evaluation.cross_validation import folds_report
    from tailor.evaluation.report import page

    atomic_write_text(root.report, page(f"tailor cross-validation: {summary['name']}", folds_report(summary)))
    return RunResult(root.dir, summary)


def fold_settings(cfg: Config, folder: Path) -> Config:
    """A fold's config: its own folder, the configured epochs in full, the last model kept, no
    explained examples in its report."""
    fold = cfg.model_copy(deep=True)
    fold.output.dir = folder
    fold.train.early_stopping_patience = None  # before restore_best: the config checks them together
    fold.train.restore_best = False
    fold.eval.explain_examples = 0  # seconds per fold for a page nobody opens; the summary is what is read
    return fold


def _check_can_start(root: RunDir, folds: int, *, resume: bool, overwrite: bool) -> None:
    if resume:
        if not root.config.is_file():
            raise RunError(f"{root.dir}: nothing to resume (no config.yaml); run without --resume")
        extra = [p.name for p in root.dir.glob(f"{FOLD_PREFIX}*") if _fold_number(p.name) > folds]
        if extra:
            raise RunError(f"{root.dir} holds {', '.join(sorted(extra))}: it was started with more folds than "
                           f"--folds {folds}; resume with the same --folds")
        return
    root.check_can_start(resume=False, overwrite=overwrite)


def _finished_fold(run: RunDir, expected_source: str) -> dict:
    """A fold's metrics, if it held out the rows this fold holds out (same K, file and seed)."""
    import json

    metrics = json.loads(run.metrics.read_text(encoding="utf-8"))
    if metrics.get("eval_data") != expected_source:
        raise RunError(f"{run.dir} held out '{metrics.get('eval_data')}', not '{expected_source}': resume with the "
                       "--folds and train.seed it was started with, or start over with --overwrite")
    return metrics


def _fold_number(name: str) -> int:
    tail = name.removeprefix(FOLD_PREFIX)
    return int(tail) if tail.isdigit() else 0


def _summary(task, cfg: Config, folds: int, fold_metrics: list[dict], first) -> dict:
    from tailor.evaluation.cross_validation import fold_rows, split_label, summarise_folds

    names = [m.name for m in task.metrics if m.headline]
    summary = summarise_folds(fold_metrics, names)
    epochs = f"{cfg.train.max_steps} steps" if cfg.train.max_steps else f"{cfg.train.epochs:g} epochs"
    notes = sorted({n for m in fold_metrics for n in m.get("data", {}).get("notes", [])})
    from tailor.training.decision import wants_decision

    if wants_decision(cfg):
        notes.append("eval.threshold / eval.calibrate were fitted on each fold's held-out part, which then scored "
                     "it: those scores are optimistic (data.test's are not)")
    return {
        "name": Path(cfg.output.dir).name, "task": cfg.task, "model": cfg.model.name, "folds": folds,
        "data": f"{folds} folds of {cfg.data.train} (seed {cfg.train.seed})"
                + ("; data.test scored by every fold's model" if first.test is not None else ""),
        "trained": f"{epochs}, no early stopping, the last model kept",
        "metrics": names, "best_metric_name": cfg.eval.metric,
        "summary": summary, "labels": {split: split_label(split, fold_metrics[0]) for split in summary},
        "per_fold": fold_rows(fold_metrics, names), "notes": notes,
    }
