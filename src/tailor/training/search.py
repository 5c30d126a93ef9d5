"""The parts of `tailor search` that are Optuna's: the study (storage, sampler, pruner), the values a
trial tries, pruning from the evaluations during training, and recovering trials a killed process left.

A trial's values are dotted config keys (train.lr ...), recorded in Optuna under the same names, so
the study reads like the config it tunes."""

from __future__ import annotations

import math
import os
import socket
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from tailor.config import Config
from tailor.config_sections import SearchRange
from tailor.errors import ConfigError

# User attr of the trial that runs the config as written: the keys of the space it sets (the others
# keep the config's value, which the space cannot express).
DEFAULT_TRIAL = "default"
# A process that stops sending heartbeats for this long is taken for dead by the others (another
# machine's killed trials); a killed trial of this machine is noticed at once, by its process id.
HEARTBEAT_S, GRACE_S = 60, 180


def open_study(cfg: Config, storage_url: str, study_name: str, greater_is_better: bool):
    """(the study, whether this process created it): created on first use, joined by every later
    process. Creating is atomic in the storage (the study's name is unique), so of processes that
    start together exactly one is told it created the study."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # tailor prints one line per trial itself
    settings = {"study_name": study_name, "storage": _storage(storage_url), "pruner": _pruner(cfg)}
    try:
        study = optuna.create_study(direction="maximize" if greater_is_better else "minimize", **settings)
        created = True
    except optuna.exceptions.DuplicatedStudyError:
        study, created = optuna.load_study(**settings), False
    study.sampler = _sampler(cfg, joined=len(study.trials))
    return study, created


def _storage(url: str, attempts: int = 10):
    """The RDB storage; two processes that open a new sqlite file at once race to create its tables
    (one gets an integrity error), so the loser waits and opens what the winner made."""
    import time
    import warnings

    import optuna
    from sqlalchemy.exc import IntegrityError, OperationalError

    for attempt in range(attempts):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # heartbeats: stable in use
                return optuna.storages.RDBStorage(
                    url, heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S,
                    heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=1))
        except (IntegrityError, OperationalError):
            if attempt == attempts - 1:
                raise
            time.sleep(0.5 + attempt)


def _sampler(cfg: Config, joined: int):
    import optuna

    seed = sampler_seed(cfg, joined)
    kind = cfg.search.sampler
    if kind == "grid":
        return optuna.samplers.GridSampler(grid(cfg.search.space), seed=seed)
    if kind == "cmaes":
        # CMA-ES moves through numeric ranges; lists of choices are drawn by TPE beside it
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False,
                                            independent_sampler=optuna.samplers.TPESampler(seed=seed))
    makers = {"tpe": optuna.samplers.TPESampler, "random": optuna.samplers.RandomSampler,
              "nsga2": optuna.samplers.NSGAIISampler}
    return makers[kind](seed=seed)


def sampler_seed(cfg: Config, joined: int) -> int:
    """search.seed (default train.seed) mixed with output.dir and the trials the study had when this
    process joined it (`joined`): the same search from scratch draws the same trials, while processes
    with folders of their own, and a search continued after a stop, draw new ones (a random sampler
    started again from one seed would draw, and train, the same values again)."""
    import zlib

    seed = cfg.search.seed if cfg.search.seed is not None else cfg.train.seed
    return zlib.crc32(f"{seed}|{Path(cfg.output.dir).resolve()}|{joined}".encode())


def _pruner(cfg: Config):
    import optuna

    if cfg.search.pruner == "none":
        return optuna.pruners.NopPruner()
    return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0)


def grid(space: dict[str, Any]) -> dict[str, list]:
    """Every value of each key, for the grid sampler: lists as they are, stepped ranges spelled out."""
    values = {}
    for key, spec in space.items():
        if isinstance(spec, list):
            values[key] = spec
        elif spec.step is None:
            raise ConfigError(f"search.space.{key}: search.sampler=grid needs its values: give a list, or a step "
                              "for the range")
        else:
            count = int(math.floor((spec.high - spec.low) / spec.step + 1e-9)) + 1
            values[key] = [_number(spec, spec.low + i * spec.step) for i in range(count)]
    return values


def _number(spec: SearchRange, value: float):
    return int(round(value)) if _is_int(spec) else round(value, 12)


def _is_int(spec: SearchRange) -> bool:
    return all(isinstance(v, int) for v in (spec.low, spec.high)) and (spec.step is None or isinstance(spec.step, int))


def suggest(trial, space: dict[str, Any], only: set[str] | None = None) -> dict[str, Any]:
    """The trial's value of each key of the space (`only`: just these keys; the rest keep the config's)."""
    values = {}
    for key, spec in space.items():
        if only is not None and key not in only:
            continue
        if isinstance(spec, list):
            values[key] = trial.suggest_categorical(key, spec)
        elif _is_int(spec):
            values[key] = trial.suggest_int(key, spec.low, spec.high, step=spec.step or 1, log=spec.log)
        else:
            values[key] = trial.suggest_float(key, spec.low, spec.high, step=spec.step, log=spec.log)
    return values


def values_of(cfg: Config, keys) -> dict[str, Any]:
    """The config's value of each dotted key."""
    values = {}
    for key in keys:
        node = cfg
        for part in key.split("."):
            node = node.get(part) if isinstance(node, dict) else getattr(node, part)
        values[key] = node.model_dump(mode="json") if hasattr(node, "model_dump") else node
    return values


def representable(space: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """The values a trial of this space can take exactly (the config's own, for the default trial)."""
    fits = {}
    for key, value in values.items():
        spec = space[key]
        if isinstance(spec, list):
            ok = value in spec
        else:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and spec.low <= value <= spec.high
        if ok:
            fits[key] = value
    return fits


class PruningCallback(TrainerCallback):
    """Reports eval.metric at each evaluation during training to the trial, numbered by evaluation
    (1, 2 ...) so that trials with other batch sizes compare at the same point; raises TrialPruned when
    the pruner says the trial cannot catch up, except at the last evaluation (the trial then completes
    with its score: nothing is left to save)."""

    def __init__(self, trial, metric: str):
        self.trial, self.key, self.evaluations = trial, f"eval_{metric}", 0

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        import optuna

        if not metrics or self.key not in metrics:
            return
        self.evaluations += 1
        self.trial.report(float(metrics[self.key]), self.evaluations)
        last = state is not None and state.max_steps and state.global_step >= state.max_steps
        if not last and self.trial.should_prune():  # at the last evaluation the work is done: it scores
            raise optuna.TrialPruned(f"{self.key} {metrics[self.key]:.4f} at evaluation {self.evaluations}")


def mark_owner(trial) -> None:
    """Which process runs the trial, so that a rerun on this machine can tell a killed trial at once."""
    import psutil

    trial.set_user_attr("host", socket.gethostname())
    trial.set_user_attr("pid", os.getpid())
    trial.set_user_attr("pid_started", psutil.Process().create_time())


def fail_killed_trials(study) -> list:
    """Trials left RUNNING by a process of this machine that is gone (killed): marked failed, their
    values queued again (what Optuna's heartbeat does for other machines after its grace period).
    Returns those trials."""
    import psutil
    from optuna.trial import TrialState

    failed = []
    host = socket.gethostname()
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        attrs = trial.user_attrs
        if attrs.get("host") != host or _alive(attrs.get("pid"), attrs.get("pid_started"), psutil):
            continue
        if study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL):
            failed.append(trial)
            kept = {k: v for k, v in attrs.items() if k == DEFAULT_TRIAL}
            study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number, **kept})
    return failed


def _alive(pid, started, psutil) -> bool:
    if pid is None:
        return True  # not ours to judge: the heartbeat decides
    try:
        return abs(psutil.Process(pid).create_time() - (started or 0)) < 1
    except psutil.NoSuchProcess:
        return False


def default_storage(config_path: Path | None) -> str:
    """sqlite beside the config file: processes with their own output folders find the same study."""
    folder, name = (config_path.resolve().parent, config_path.stem) if config_path else (Path.cwd(), "tailor")
    return f"sqlite:///{folder / name}.search.db"
