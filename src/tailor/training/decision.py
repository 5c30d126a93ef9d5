"""After training: eval.threshold and eval.calibrate fitted on the evaluation split with the saved model,
folded into model/'s output layer (models/head.py), so every way of answering uses them. What was fitted,
and what it changed (on data.test when there is one: the rows nothing was fitted on), goes to
metrics.json `decision`."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import numpy as np

from tailor.config import Config
from tailor.errors import ConfigError

# eval.metric values a threshold can be tuned for (metrics of the answered labels); others (loss,
# roc_auc) do not depend on the threshold, so macro F1 is tuned instead.
THRESHOLD_METRICS = ("f1_macro", "accuracy", "precision_macro", "recall_macro", "f1_weighted")


def wants_decision(cfg: Config) -> bool:
    return cfg.eval.threshold != "none" or cfg.eval.calibrate != "none"


def check_decision_settings(cfg: Config, labels: list[str]) -> None:
    """Before training: a threshold needs two classes and a positive class the data has."""
    if cfg.eval.threshold == "none":
        return
    if len(labels) != 2:
        raise ConfigError(f"eval.threshold={cfg.eval.threshold}: a decision threshold is for two classes, and the "
                          f"training data has {len(labels)} ({', '.join(labels[:6])}); set eval.threshold=none")
    if cfg.eval.positive_label is not None and cfg.eval.positive_label not in labels:
        raise ConfigError(f"eval.positive_label={cfg.eval.positive_label!r} is not a label of the training data "
                          f"(its labels: {', '.join(labels)})")


def positive_class(cfg: Config, labels: list[str], train_labels: list[str]) -> int:
    """eval.positive_label, else the less frequent training class (the one a skew leaves under-answered)."""
    if cfg.eval.positive_label is not None:
        return labels.index(cfg.eval.positive_label)
    counts = Counter(train_labels)
    return min(range(len(labels)), key=lambda i: (counts[labels[i]], -i))


def fit_decision(task, processor, data, cfg: Config, model_dir: Path) -> dict:
    """Fit what eval.threshold / eval.calibrate ask for, fold it into model/ (atomically), and say
    what it did: the threshold, the temperature, and the headline metric and calibration error of
    the model as trained and as saved."""
    from tailor.evaluation.calibration import adjusted, fit_temperature, threshold_shift, tune_threshold
    from tailor.models.head import fold_decision

    model = task.load_model(model_dir, trust_remote_code=cfg.model.trust_remote_code)
    batch = cfg.eval.batch_size
    truth, log_p = _scored(task, model, processor, data.eval, cfg, batch)
    metric = cfg.eval.metric if cfg.eval.metric in THRESHOLD_METRICS else "f1_macro"
    score = _scorer(metric)
    labels = data.labels
    result: dict = {"fitted_on": f"evaluation split ({len(truth)} rows)", "metric": metric}
    shift = None
    if cfg.eval.threshold != "none":
        positive = positive_class(cfg, labels, data.train_unsampled.columns["label"])
        if cfg.eval.threshold == "tune":
            threshold, _ = tune_threshold(truth, np.exp(log_p[:, positive]), positive, score)
        else:
            threshold = float(cfg.eval.threshold)
        shift = threshold_shift(threshold, positive, len(labels))
        result["threshold"] = {"label": labels[positive], "probability": round(threshold, 6),
                               "chosen": "tuned" if cfg.eval.threshold == "tune" else "given"}
    temperature = fit_temperature(truth, log_p, shift) if cfg.eval.calibrate == "temperature" else 1.0
    if cfg.eval.calibrate == "temperature":
        result["temperature"] = temperature
    splits = {"eval": (truth, log_p)}
    if data.test is not None:
        splits["test"] = _scored(task, model, processor, data.test, cfg, batch)
    for split, (split_truth, split_log_p) in splits.items():
        result[split] = {"as_trained": _summary(split_truth, adjusted(split_log_p), score, metric),
                         "as_saved": _summary(split_truth, adjusted(split_log_p, shift, temperature), score, metric)}
    fold_decision(model, shift, temperature)
    model.config.tailor_decision = {k: result[k] for k in ("threshold", "temperature") if k in result}
    _save_over(model, model_dir)
    return result


def _scored(task, model, processor, examples, cfg: Config, batch: int):
    truth, log_p, _ = task.scored(model, processor, examples, cfg, batch, log=True)
    return truth, log_p.astype(np.float64)


def _summary(truth: np.ndarray, probabilities: np.ndarray, score, metric: str) -> dict:
    from tailor.evaluation.calibration import calibration_bins

    return {metric: round(float(score(truth, probabilities.argmax(-1))), 6),
            "ece": round(calibration_bins(truth, probabilities)["ece"], 6)}


def _scorer(metric: str):
    from sklearn import metrics as skm

    average = metric.rsplit("_", 1)[-1] if "_" in metric else None
    if metric == "accuracy":
        return skm.accuracy_score
    measure = {"f1": skm.f1_score, "precision": skm.precision_score, "recall": skm.recall_score}[metric.split("_")[0]]
    return lambda truth, predicted: measure(truth, predicted, average=average, zero_division=0)


def _save_over(model, model_dir: Path) -> None:
    """model/ rewritten with the adjusted weights, the other files (tokenizer, card) kept; one rename."""
    from tailor.runs import save_folder_atomically

    def write(tmp: Path) -> None:
        shutil.copytree(model_dir, tmp)
        model.save_pretrained(tmp)

    save_folder_atomically(model_dir, write)
