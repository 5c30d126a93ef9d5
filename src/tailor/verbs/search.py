"""`tailor search CONFIG --trials N`: hyper-parameter search with Optuna over search.space.

Each trial is an ordinary run (output.dir/trial-<number>/) of the config with the trial's values,
selected on the evaluation split only: data.test is kept out of every trial and scores the best
trial's model once, at the end. The first trial of a new study is the config as written, so the
search says whether it beat it. The study lives in search.storage (sqlite beside the config by
default) under search.study (the config file's name), so processes with different output folders,
on one machine or several, share it, and running the same command again continues it: a killed
search resumes, its interrupted trial run again. Checkpoints are deleted as each trial ends, and
the model of every trial but the best.

    runs/<name>/
      config.yaml      the config searched (resolved)
      trial-0/ ...     a run per trial of this process: metrics.json, report.html (model/: the best only)
      best.yaml        the best trial's config, data.test restored: `tailor train best.yaml`
      metrics.json     the trials, the best beside the default config, data.test's score
      report.html      trials table, optimisation history, parameter importances
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from tailor.config import Config, config_to_dict, load_config, save_config
from tailor.console import say, warn
from tailor.errors import ConfigError, RunError, TailorError
from tailor.io import atomic_write_json, atomic_write_text
from tailor.runs import BEST_CONFIG, TRIAL_PREFIX, RunDir
from tailor.verbs.common import resolved


@dataclass
class SearchResult:
    dir: Path
    summary: dict


def search(config: str | Path | Config, overrides: list[str] = (), *, trials: int | None = None,
           overwrite: bool = False) -> SearchResult:
    """Run trials until the study has `trials` finished ones (search.trials by default); returns
    output.dir and the summary written to its metrics.json."""
    from transformers.utils import logging as transformers_logging

    from tailor.data.loading import load_task_data
    from tailor.distributed import world_size
    from tailor.tasks.base import metric_named
    from tailor.training.search import default_storage, fail_killed_trials, open_study

    transformers_logging.disable_progress_bar()
    if world_size() > 1:
        raise ConfigError("tailor search runs each trial in one process: start several `tailor search` processes "
                          "on one study instead of torchrun (they share search.storage)")
    path = None if isinstance(config, Config) else Path(config)
    user_cfg = config if isinstance(config, Config) else load_config(config, list(overrides))
    base, task = resolved(user_cfg)
    space = base.search.space
    if not space:
        raise ConfigError(f"{path or 'config'}: search.space is empty; declare the settings to try, e.g. search: "
                          "{space: {train.lr: {low: 1.0e-5, high: 1.0e-3, log: true}, train.batch_size: [8, 16, 32]}}")
    _check_space(user_cfg, space)
    root = RunDir(Path(base.output.dir))
    storage = base.search.storage or default_storage(path)
    name = base.search.study or (path.stem if path else "tailor")
    data = load_task_data(task, base)  # every input checked before the folder or the study is touched
    test, data.test = data.test, None  # trials select on the evaluation split only
    _prepare_root(root, storage, name, overwrite)
    save_config(base, root.config)
    metric = metric_named(task, base.eval.metric)
    study, created = open_study(base, storage, name, metric.greater_is_better)
    for trial in fail_killed_trials(study):
        warn(f"trial {trial.number} was left running by a process that is gone; it runs again")
        shutil.rmtree(Path(trial.user_attrs.get("run_dir", root.dir / "none")) / "checkpoints", ignore_errors=True)
    if created:
        _queue_default_trial(study, base)
    target = trials or base.search.trials
    goal = "maximising" if metric.greater_is_better else "minimising"
    say(f"study '{name}' in {storage}: {_finished(study)} of {target} trials finished; {goal} {metric.name}")
    objective = _Objective(user_cfg, task, data, root, metric.name, target)
    _optimize(study, objective, target, root)
    summary = _summary(study, base, task, test, root, storage, name, metric)
    _write_outputs(root, summary, study, user_cfg, test)
    return SearchResult(root.dir, summary)


def _optimize(study, objective, target: int, root: RunDir) -> None:
    from optuna.study import MaxTrialsCallback
    from optuna.trial import TrialState

    remaining = target - _finished(study)
    if remaining <= 0:
        say("the study has all its trials; writing the summary")
        return
    stop_at_target = MaxTrialsCallback(target, states=(TrialState.COMPLETE, TrialState.PRUNED))
    study.optimize(objective, n_trials=remaining, callbacks=[stop_at_target, lambda s, t: _keep_best_model(s, root)],
                   catch=())
    _keep_best_model(study, root)


def _finished(study) -> int:
    from optuna.trial import TrialState

    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))


class _Objective:
    """One trial: the config with the trial's values, trained as an ordinary run, scored on eval."""

    def __init__(self, user_cfg: Config, task, data, root: RunDir, metric: str, target: int):
        self.user_cfg, self.task, self.data, self.root, self.metric, self.target = (user_cfg, task, data, root,
                                                                                      metric, target)

    def __call__(self, trial) -> float:
        from tailor.data.loading import load_task_data
        from tailor.training.search import DEFAULT_TRIAL, PruningCallback, mark_owner, suggest
        from tailor.verbs.train import train_on

        mark_owner(trial)
        space = self.user_cfg.search.space
        # the config as written: only the keys whose value the space can express are the trial's
        only = set(trial.user_attrs[DEFAULT_TRIAL]) if DEFAULT_TRIAL in trial.user_attrs else None
        values = suggest(trial, space, only)
        run = RunDir(self.root.dir / f"{TRIAL_PREFIX}{trial.number}")
        trial.set_user_attr("run_dir", str(run.dir.resolve()))
        # The config as written runs as written: its values are the trial's, but setting them would
        # change what follows from them (a default learning rate is scaled to the batches; a set one is not).
        cfg = _without_explanations(trial_config(self.user_cfg, {} if only is not None else values, run.dir))
        shown = ", ".join(f"{k}={v}" for k, v in values.items()) or "the config as written"
        say(f"trial {trial.number} (the study's target is {self.target} finished): {shown}"
            + (" [the config as written]" if only is not None else ""))
        data = load_task_data(self.task, cfg) if any(k.startswith("data.") for k in space) else self.data
        data.test = None
        try:
            result = train_on(self.task, cfg, data, run, overwrite=True,
                              callbacks=(PruningCallback(trial, self.metric),))
        finally:
            shutil.rmtree(run.checkpoints, ignore_errors=True)  # a trial's model/ is all that may be kept
        value = objective_value(result.metrics, run, self.metric)
        trial.set_user_attr("scores", {k: v for k, v in result.metrics["eval"].items() if isinstance(v, float)})
        say(f"trial {trial.number}: {self.metric} {value:.4f}")
        return value


def trial_config(user_cfg: Config, values: dict, folder: Path) -> Config:
    """The user's config with a trial's values set, resolved as a run of its own (defaults that follow
    from a changed value, such as the learning rate of another method, follow)."""
    raw = user_cfg.model_dump(mode="json", exclude_unset=True)
    for key, value in values.items():
        *sections, last = key.split(".")
        node = raw
        for section in sections:
            node = node.setdefault(section, {})
            if not isinstance(node, dict):
                raise ConfigError(f"search.space.{key}: {section} is not a section of the config")
        node[last] = value
    raw.setdefault("output", {})["dir"] = str(folder)
    cfg, _ = resolved(load_config(None, base=raw))
    return cfg


def _without_explanations(cfg: Config) -> Config:
    """A trial's report skips the explained examples (seconds a trial, for pages few open): best.yaml
    trained again has them."""
    cfg.eval.explain_examples = 0
    return cfg


def _check_space(user_cfg: Config, space: dict) -> None:
    """Each key is a setting of the config, and the ends of each range (each choice) are values it
    takes: a typo fails now, not at the trial that first draws it."""
    from tailor.config_sections import SearchRange

    for key, spec in space.items():
        candidates = spec if isinstance(spec, list) else [spec.low, spec.high]
        if isinstance(spec, list) and not spec:
            raise ConfigError(f"search.space.{key}: the list of choices is empty")
        if not isinstance(spec, SearchRange) and key.startswith("search."):
            raise ConfigError(f"search.space.{key}: the search's own settings cannot be searched")
        for value in candidates:
            try:
                trial_config(user_cfg, {key: value}, Path("check"))
            except TailorError as exc:
                raise ConfigError(f"search.space.{key} = {value!r}: {str(exc).removeprefix('config: ')}") from None


def _prepare_root(root: RunDir, storage: str, study: str, overwrite: bool) -> None:
    """output.dir holds this search (continued by running the command again) or nothing;
    --overwrite deletes both the folder and the study."""
    if root.dir.is_dir() and any(root.dir.iterdir()):
        if not root.looks_like_a_run() or root.model.exists():  # a run of `tailor train` has model/
            raise RunError(f"{root.dir} holds something other than a search; choose another folder with "
                           "output.dir=...")
        if overwrite:
            shutil.rmtree(root.dir)
    if overwrite:
        import optuna

        try:
            optuna.delete_study(study_name=study, storage=storage)
            say(f"deleted study '{study}' from {storage}")
        except KeyError:
            pass
    root.dir.mkdir(parents=True, exist_ok=True)


def _queue_default_trial(study, base: Config) -> None:
    """A new study first runs the config as written (its values that the space can express)."""
    from tailor.training.search import DEFAULT_TRIAL, representable, values_of

    space = base.search.space
    fixed = representable(space, values_of(base, space))
    study.enqueue_trial(fixed, user_attrs={DEFAULT_TRIAL: sorted(fixed)})


def objective_value(metrics: dict, run: RunDir, metric: str) -> float:
    """The saved model's eval.metric on the evaluation split (the eval loss: the best one logged,
    which is the restored model's)."""
    import json

    value = metrics["eval"].get(metric)
    if isinstance(value, (int, float)):
        return float(value)
    history = json.loads(run.history.read_text(encoding="utf-8"))
    losses = [h[f"eval_{metric}"] for h in history if f"eval_{metric}" in h]
    if not losses:
        raise RunError(f"{run.dir}: no eval {metric} was logged, so the trial cannot be scored")
    return float(min(losses))


def _keep_best_model(study, root: RunDir) -> None:
    """Only the best trial's model/ stays (of this process's trials; another process sweeps its own)."""
    best = _best_number(study)
    for folder in root.dir.glob(f"{TRIAL_PREFIX}*"):
        if folder.name != f"{TRIAL_PREFIX}{best}":
            shutil.rmtree(folder / "model", ignore_errors=True)


def _best_number(study) -> int | None:
    try:
        return study.best_trial.number
    except ValueError:  # no trial finished yet
        return None


def _summary(study, base: Config, task, test, root: RunDir, storage: str, name: str, metric) -> dict:
    from tailor.evaluation.search_report import trial_rows
    from tailor.training.search import DEFAULT_TRIAL

    rows = trial_rows(study)
    summary = {"name": root.dir.name, "task": base.task, "model": base.model.name, "study": name, "storage": storage,
               "metric": metric.name, "direction": "maximize" if metric.greater_is_better else "minimize",
               "space": {k: (v if isinstance(v, list) else v.model_dump()) for k, v in base.search.space.items()},
               "sampler": base.search.sampler, "pruner": base.search.pruner, "trials": rows}
    best_number = _best_number(study)
    if best_number is None:
        summary["verdict"] = "no trial finished: nothing to compare"
        return summary
    best = study.best_trial
    summary["best"] = {"number": best.number, "value": best.value, "params": best.params,
                       "run_dir": best.user_attrs.get("run_dir"), "as_written": DEFAULT_TRIAL in best.user_attrs}
    default = next((r for r in rows if DEFAULT_TRIAL in r and r["state"] == "COMPLETE"), None)
    summary["default"] = default and {"number": default["number"], "value": default["value"]}
    summary["verdict"] = _verdict(summary, metric)
    if test is not None:
        summary["test"] = _score_best_on_test(task, base, best, test)
    return summary


def _verdict(summary: dict, metric) -> str:
    best, default = summary["best"], summary["default"]
    if default is None:
        return f"best: trial {best['number']}, {metric.name} {best['value']:.4f} (the config as written did not finish)"
    gain = best["value"] - default["value"]
    better = gain > 0 if metric.greater_is_better else gain < 0
    if best["number"] == default["number"] or not better:
        return (f"no trial beat the config as written ({metric.name} {default['value']:.4f} on the evaluation split); "
                f"{BEST_CONFIG} is that config")
    return (f"trial {best['number']} beat the config as written on the evaluation split: {metric.name} "
            f"{best['value']:.4f} vs {default['value']:.4f} ({gain:+.4f})")


def _score_best_on_test(task, base: Config, best, test) -> dict:
    """data.test, once, on the best trial's model: the one score no choice was made on."""
    from tailor.verbs.common import load_run

    run = RunDir(Path(best.user_attrs.get("run_dir", "")))
    if not run.model.is_dir():
        return {"note": f"the best trial's model is not on this machine ({run.dir}); score it with `tailor eval`"}
    say(f"scoring the best trial's model once on data.test ({base.data.test}) ...")
    cfg, _, model, processor = load_run(run.dir)
    return {"data": str(base.data.test), "trial": best.number,
            **task.evaluate(model, processor, test, cfg, cfg.eval.batch_size)}


def _write_outputs(root: RunDir, summary: dict, study, user_cfg: Config, test) -> None:
    from tailor.evaluation.report import page
    from tailor.evaluation.search_report import search_report

    if "best" in summary:
        # the config as written is written as it is (its values set would change what follows from them)
        values = {} if summary["best"]["as_written"] else summary["best"]["params"]
        best = trial_config(user_cfg, values, root.dir.parent / f"{root.dir.name}-best")
        if test is not None:
            best.data.test = user_cfg.data.test
        values = config_to_dict(best)
        values.pop("search", None)
        import yaml

        atomic_write_text(root.dir / BEST_CONFIG, yaml.safe_dump(values, sort_keys=False))
    atomic_write_json(root.metrics, summary)
    atomic_write_text(root.report, page(f"tailor search: {summary['name']}", search_report(summary, study)))
