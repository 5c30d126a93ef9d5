"""`model: auto`, after training: the fine-tuned model against a classical one (TF-IDF + logistic
regression), on eval.metric; where the classical model is better it becomes the run's model, and the
fine-tuned one is kept beside it as a run of its own (RUN/fine-tuned/), so nothing trained is lost."""

from __future__ import annotations

import shutil

from tailor.config import Config
from tailor.console import say
from tailor.runs import RunDir, save_folder_atomically

FINE_TUNED = "fine-tuned"  # the fine-tuned model's run folder inside a run the classical model won


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
