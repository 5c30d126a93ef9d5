"""`model: auto`: which model a run trains, and which answers.

Before training: the task's default embedded model where it reads the text (verbs/common.py measures
that); where it cannot, every embedded model for the task is tried (trained as the config says, on a
sample of shorter examples, scored on eval.metric) and the best is trained in full. Reading is not
enough to choose: on Chinese reviews MiniLM, blind to 64% of the tokens, still beat SmolLM2, which
reads them all as byte pieces.

After training: the fine-tuned model against a classical one (TF-IDF + logistic regression); where the
classical model is better it becomes the run's model, and the fine-tuned one is kept beside it as a run
of its own (RUN/fine-tuned/), so nothing trained is lost."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from tailor.config import Config
from tailor.console import say
from tailor.runs import RunDir, save_folder_atomically

FINE_TUNED = "fine-tuned"  # the fine-tuned model's run folder inside a run the classical model won
# Each candidate trains as the config says (its epochs, its method's defaults) on this many training
# examples cut to TRIAL_MAX_LENGTH tokens, and is scored on at most as many evaluation examples: a few
# minutes for SmolLM2 on a CPU. One epoch is not a fair trial: it leaves a fully tuned encoder at its
# low learning rate nearly untrained (MiniLM scored 0.34 macro-F1 on Chinese reviews after it).
TRIAL_EXAMPLES = 200
TRIAL_MAX_LENGTH = 128


def model_by_trial(user_cfg: Config, task, cfg: Config, run: RunDir, train_examples: int, *,
                   resume: bool = False) -> tuple[Config, list]:
    """(the config resolved for the model that scored best in a short trial, the trials). `cfg` is
    user_cfg resolved for the model that reads the text best, which is not the task's default.

    A trial ranks the models at its sample's size: a model that learns from few examples (SmolLM2 with
    LoRA) can lead there and fall behind with thousands (a fully tuned MiniLM), so each trial also says
    how long training on all the data would take, and the TF-IDF comparison after training stays."""
    from tailor.tasks.base import metric_named
    from tailor.verbs.common import resolved

    if resume and run.config.is_file():  # trained already: the model the trials chose, not new trials
        import yaml

        return resolved(_for_model(user_cfg, yaml.safe_load(run.config.read_text())["model"]["name"]))[0], []
    candidates = _candidates(task)
    metric = metric_named(task, cfg.eval.metric)
    length = min(cfg.data.max_length or TRIAL_MAX_LENGTH, TRIAL_MAX_LENGTH)
    say(f"model: auto: trying {', '.join(candidates)}, each trained as configured on {TRIAL_EXAMPLES} training "
        f"examples of up to {length} tokens, scored on {metric.name} over at most {TRIAL_EXAMPLES} evaluation examples")
    folder = Path(f"{cfg.output.dir}.auto-trials")
    trials = [_trial(user_cfg, task, name, folder / f"{index}-{Path(name).name}", metric.name, length)
              for index, name in enumerate(candidates)]
    for trial in trials:  # training time grows with the examples and (about linearly, at these lengths) their length
        scale = train_examples / trial["examples"] * (cfg.data.max_length or length) / length
        trial["full_training_s"] = round(trial.pop("training_s") * scale)
    from tailor.distributed import barrier, is_main_process

    barrier()
    if is_main_process():
        shutil.rmtree(folder, ignore_errors=True)
    best = (max if metric.greater_is_better else min)(trials, key=lambda t: t["score"])
    say(f"model: auto -> {best['model']} (in the trial: " + "; ".join(
        f"{t['model']} {metric.name} {t['score']:.4f}, all {train_examples:,} examples in about "
        f"{_duration(t['full_training_s'])}" for t in trials) + ")")
    return resolved(_for_model(user_cfg, best["model"]))[0], trials


def _candidates(task) -> list[str]:
    """Every embedded model that can learn the task (the ones `tailor data check` measures); named, not
    measured again: resolving `model: auto` has read the text with each of them already."""
    from tailor.data.readability import embedded_for

    return embedded_for(task.name)


def _trial(user_cfg: Config, task, name: str, folder: Path, metric: str, length: int) -> dict:
    from tailor.config import section_name
    from tailor.data.loading import load_task_data
    from tailor.distributed import barrier
    from tailor.verbs.search import objective_value, trial_config
    from tailor.verbs.train import train_on

    values = {"model.name": name, "data.max_samples": min(TRIAL_EXAMPLES, user_cfg.data.max_samples or TRIAL_EXAMPLES),
              "data.max_length": length, "data.test": None, "eval.bootstrap": 0, "eval.explain_examples": 0}
    if "classical_baseline" in task.Options.model_fields:
        values[f"{section_name(user_cfg.task)}.classical_baseline"] = False  # fitted once, for the run
    cfg = trial_config(user_cfg, values, folder)
    run = RunDir(folder)
    say(f"model: auto: trying {name} ({cfg.method}) ...")
    started, data = time.perf_counter(), load_task_data(task, cfg)
    train_on(task, cfg, data, run, overwrite=True)
    barrier()  # the main process wrote the trial's metrics: every process reads the same score
    metrics = json.loads(run.metrics.read_text(encoding="utf-8"))
    return {"model": name, "method": cfg.method, "metric": metric, "score": round(objective_value(metrics, run, metric), 4),
            "seconds": round(time.perf_counter() - started, 1), "examples": len(data.train), "max_length": length,
            "training_s": metrics["train"]["runtime_s"]}


def _duration(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"


def _for_model(user_cfg: Config, name: str) -> Config:
    chosen = user_cfg.model_copy(deep=True)
    chosen.model.name, chosen.model.auto = name, True
    return chosen


def keep_the_better(task, cfg: Config, data, run: RunDir, metrics: dict) -> dict:
    """metrics.json of the run as it now answers, with `auto`: both models' scores, the winner and by how much."""
    from tailor.tasks.base import metric_named

    metric = metric_named(task, cfg.eval.metric)
    classical = task.classical_model(data, cfg)
    batch = cfg.eval.batch_size
    scores = {"eval": task.evaluate(classical, None, data.eval, cfg, batch)}
    if data.test is not None:
        scores["test"] = {"data": str(cfg.data.test), **task.evaluate(classical, None, data.test, cfg, batch)}
    tuned, theirs = metrics["eval"][metric.name], scores["eval"][metric.name]
    classical_wins = theirs > tuned if metric.greater_is_better else theirs < tuned
    summary = {"metric": metric.name, "winner": classical.description if classical_wins else f"fine-tuned {cfg.model.name}",
               "by": round(abs(theirs - tuned), 4),
               "fine_tuned": _headline(cfg.model.name, metrics, metric.name),
               "classical": _headline(classical.description, scores, metric.name)}
    say(f"model: auto: {summary['winner']} answers ({metric.name} {max(tuned, theirs) if metric.greater_is_better else min(tuned, theirs):.4f}"
        f" on the evaluation data, {summary['by']:.4f} better than the other)")
    if not classical_wins:
        return {**metrics, "auto": summary}
    _set_aside_fine_tuned(run)
    save_folder_atomically(run.model, classical.save)
    from tailor.evaluation.classification import classical_baselines

    answers = lambda examples: classical.probabilities(examples).argmax(-1)  # noqa: E731
    # What described the fine-tuned model (its decision threshold, its explained examples) went with it.
    rows = {key: value for key, value in metrics.items()
            if not key.endswith("baseline") and key not in ("decision", "explained")}
    fine_tuned = {"method": f"fine-tuned {cfg.model.name} (kept in {FINE_TUNED}/)", **metrics["eval"]}
    if "test" in metrics:
        fine_tuned["test"] = metrics["test"]
    return {**rows, **scores, "answering": classical.description, "auto": {**summary, "fine_tuned_run": FINE_TUNED},
            **classical_baselines(data, tfidf=False, seed=cfg.train.seed, tuned_answers=answers),
            "fine_tuned_baseline": fine_tuned}


def _headline(name: str, metrics: dict, metric: str) -> dict:
    result = {"model": name, "eval": metrics["eval"][metric]}
    if "test" in metrics:
        result["test"] = metrics["test"][metric]
    return result


def _set_aside_fine_tuned(run: RunDir) -> None:
    """RUN/model/ and the run's config as RUN/fine-tuned/, a run folder that every verb answers from."""
    aside = RunDir(run.dir / FINE_TUNED)
    shutil.rmtree(aside.dir, ignore_errors=True)
    aside.dir.mkdir(parents=True)
    shutil.copy(run.config, aside.config)
    run.model.rename(aside.model)


CLASSICAL_USAGE = ("# TF-IDF + logistic regression (scikit-learn, saved with skops): it beat the fine-tuned model,\n"
                   "# which is kept in the run's fine-tuned/ folder\n"
                   "import skops.io\nclassifier = skops.io.load(\"path/to/this/folder/classical.skops\")\n"
                   "print(classifier.predict_proba([\"your text here\"]))  # columns: the labels in config.json's id2label\n"
                   "# or: tailor predict RUN --text \"your text here\"")
