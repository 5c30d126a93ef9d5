"""How far a classifier's probabilities can be trusted, and the two corrections fitted after training
on the evaluation split: a decision threshold for two classes (eval.threshold) and temperature scaling
(eval.calibrate; Guo et al. 2017). Both act on log-probabilities (rows x classes): a per-row constant
does not change a softmax, so log-probabilities stand in for the logits they came from.

numpy, scipy and scikit-learn only: nothing here touches a model (models/head.py folds the result
into the classifier's output layer).
"""

from __future__ import annotations

import math

import numpy as np

BINS = 15  # equal-width confidence bins, as Guo et al. report ECE
MAX_THRESHOLDS = 512  # candidate thresholds tried (quantiles of the scores when there are more)


def calibration_bins(truth: np.ndarray, probabilities: np.ndarray, bins: int = BINS) -> dict:
    """The reliability diagram's data for class probabilities (rows x classes): see confidence_bins."""
    return confidence_bins(probabilities.max(-1), probabilities.argmax(-1) == truth, bins)


def confidence_bins(confidence: np.ndarray, correct: np.ndarray, bins: int = BINS) -> dict:
    """For each equal-width bin of the answers' confidence, how many answers, their mean confidence and
    how many were right; and the expected calibration error, the gap between confidence and accuracy
    weighted by the answers in each bin."""
    confidence, correct = np.asarray(confidence, dtype=float), np.asarray(correct, dtype=float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    counts = np.bincount(which, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = np.bincount(which, weights=confidence, minlength=bins) / counts
        accuracy = np.bincount(which, weights=correct, minlength=bins) / counts
    filled = counts > 0
    ece = float(np.sum(counts[filled] * np.abs(accuracy[filled] - mean_confidence[filled])) / max(len(correct), 1))
    return {"ece": ece, "bins": [{"from": round(float(edges[i]), 4), "to": round(float(edges[i + 1]), 4),
                                  "rows": int(counts[i]), "confidence": round(float(mean_confidence[i]), 4),
                                  "accuracy": round(float(accuracy[i]), 4)} for i in np.flatnonzero(filled)]}


def adjusted(log_probabilities: np.ndarray, shift: np.ndarray | None = None, temperature: float = 1.0) -> np.ndarray:
    """Probabilities after a per-class shift of the logits and a temperature: softmax((z + shift) / T)."""
    z = log_probabilities + (0.0 if shift is None else shift)
    z = z / temperature
    z = z - z.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)


def fit_temperature(truth: np.ndarray, log_probabilities: np.ndarray, shift: np.ndarray | None = None) -> float:
    """The temperature T that minimises the negative log-likelihood of softmax((z + shift) / T) on
    these rows (one parameter: it rescales confidence and never changes which class is largest)."""
    from scipy.optimize import minimize_scalar
    from sklearn.metrics import log_loss

    labels = list(range(log_probabilities.shape[1]))

    def nll(log_t: float) -> float:
        return log_loss(truth, adjusted(log_probabilities, shift, math.exp(log_t)), labels=labels)

    best = minimize_scalar(nll, bounds=(math.log(0.05), math.log(20.0)), method="bounded",
                           options={"xatol": 1e-4})
    return round(math.exp(best.x), 4)


def tune_threshold(truth: np.ndarray, positive_probability: np.ndarray, positive: int, score) -> tuple[float, float]:
    """The threshold on the positive class's probability (answer positive at or above it) that
    maximises `score(truth, predicted)` on these rows, and that score. Among thresholds that score
    the same, the middle one: the decision then sits midway between the rows it separates."""
    candidates = np.unique(positive_probability)
    if len(candidates) > MAX_THRESHOLDS:
        candidates = np.unique(np.quantile(positive_probability, np.linspace(0, 1, MAX_THRESHOLDS)))
    # Midpoints between neighbouring scores, plus one above the largest (nothing positive).
    between = np.concatenate([(candidates[:-1] + candidates[1:]) / 2, [min(1.0, candidates[-1] + 1e-6)]])
    other = 1 - positive
    results = np.array([score(truth, np.where(positive_probability >= t, positive, other)) for t in between])
    best = np.flatnonzero(results >= results.max() - 1e-12)
    chosen = best[len(best) // 2]
    return float(between[chosen]), float(results[chosen])


def threshold_shift(threshold: float, positive: int, classes: int = 2) -> np.ndarray:
    """The per-class logit shift under which the largest class is the answer the threshold gives:
    positive wins when z_pos - z_other >= logit(threshold), so shift z_pos by -logit(threshold)."""
    threshold = min(max(threshold, 1e-6), 1 - 1e-6)
    shift = np.zeros(classes)
    shift[positive] = -math.log(threshold / (1 - threshold))
    return shift


def decision_lines(decision: dict) -> list[str]:
    """What the run prints about the fitted decision: what was chosen, and its effect where honest."""
    lines = []
    if "threshold" in decision:
        t = decision["threshold"]
        lines.append(f"decision threshold ({t['chosen']} on the {decision['fitted_on']}): answer '{t['label']}' when "
                     f"the trained model gives it a probability of at least {t['probability']:.4f}; folded into the "
                     "saved model, whose probabilities are shifted so that the larger one is that answer")
    if "temperature" in decision:
        lines.append(f"temperature {decision['temperature']:.3f} (fitted on the {decision['fitted_on']})")
    split = "test" if "test" in decision else "eval"
    before, after = decision[split]["as_trained"], decision[split]["as_saved"]
    where = "data.test" if split == "test" else "the evaluation split it was fitted on (optimistic: set data.test)"
    lines.append(f"on {where}: {decision['metric']} {before[decision['metric']]:.4f} -> {after[decision['metric']]:.4f}, "
                 f"expected calibration error {before['ece']:.4f} -> {after['ece']:.4f}")
    return lines
