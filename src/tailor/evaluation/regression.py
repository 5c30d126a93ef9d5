"""Scores of a model that answers a number: errors in the user's units (RMSE, MAE, MSE), agreement in
order and in line (Pearson, Spearman), the bars to clear (the training mean; TF-IDF + ridge regression),
a paired test on the same rows, and what the report plots (predicted against true, as binned counts).

One number per row is all that is kept, so memory stays that of the targets however large the data.
"""

from __future__ import annotations

import numpy as np

# Predicted-against-true counts for the report: a grid of this many bins a side, not every point.
SCATTER_BINS = 24


def target_scale(values: list[float]) -> tuple[float, float]:
    """The training targets' mean and standard deviation (1 where they do not vary): the model learns
    (y - mean) / std, a scale its new head starts near, whatever the user's units."""
    array = np.asarray(values, dtype=np.float64)
    std = float(array.std())
    return float(array.mean()), std if std > 0 else 1.0


def regression_metrics(truth: np.ndarray, predicted: np.ndarray, *, resamples: int = 1000,
                       scatter: bool = True) -> dict:
    """Every regression metric of tailor's, in the targets' own units, with bootstrap 95 % intervals of
    RMSE and MAE (over `resamples` resamples; 0: none) and the binned predicted-vs-true grid the report
    draws (`scatter`)."""
    truth, predicted = np.asarray(truth, dtype=np.float64), np.asarray(predicted, dtype=np.float64)
    result = summary_metrics(truth, predicted)
    result["rows"] = int(len(truth))
    if resamples:
        from tailor.evaluation.honesty import bootstrap_interval

        result["ci95"] = {"rmse": bootstrap_interval(truth, predicted, _rmse, resamples=resamples),
                          "mae": bootstrap_interval(truth, predicted, _mae, resamples=resamples)}
    if scatter:
        result["scatter"] = binned_scatter(truth, predicted)
    return result


def summary_metrics(truth: np.ndarray, predicted: np.ndarray) -> dict:
    """RMSE, MAE, MSE, and Pearson's and Spearman's correlations (None where one side is constant,
    as a mean baseline's answers are: a correlation is then undefined, not 0)."""
    from scipy.stats import pearsonr, spearmanr
    from sklearn.metrics import mean_absolute_error, mean_squared_error

    truth, predicted = np.asarray(truth, dtype=np.float64), np.asarray(predicted, dtype=np.float64)
    mse = float(mean_squared_error(truth, predicted))
    varies = len(truth) > 1 and np.ptp(truth) > 0 and np.ptp(predicted) > 0
    return {"rmse": float(np.sqrt(mse)), "mae": float(mean_absolute_error(truth, predicted)), "mse": mse,
            "pearson": float(pearsonr(truth, predicted).statistic) if varies else None,
            "spearman": float(spearmanr(truth, predicted).statistic) if varies else None}


def _rmse(truth, predicted) -> float:
    return float(np.sqrt(np.mean((np.asarray(truth) - np.asarray(predicted)) ** 2)))


def _mae(truth, predicted) -> float:
    return float(np.mean(np.abs(np.asarray(truth) - np.asarray(predicted))))


def binned_scatter(truth: np.ndarray, predicted: np.ndarray, bins: int = SCATTER_BINS) -> dict:
    """Counts of (true, predicted) pairs on a square grid over the range of both: what a scatter plot
    shows, at a fixed size however many rows there are."""
    low = float(min(truth.min(), predicted.min()))
    high = float(max(truth.max(), predicted.max()))
    if high <= low:
        high = low + 1.0
    counts, _, _ = np.histogram2d(truth, predicted, bins=bins, range=[[low, high], [low, high]])
    return {"low": low, "high": high, "counts": counts.astype(int).tolist()}


def predicted_numbers(model, encoded, collate, batch_size: int) -> np.ndarray:
    """The model's one output per row, in input order (the saved model answers in the user's units)."""
    from tailor.training.inference import forward_batches

    result = np.zeros(len(encoded.lengths), dtype=np.float64)
    for rows, _, outputs in forward_batches(model, encoded, collate, batch_size):
        result[rows] = outputs.logits.float()[:, 0].cpu().numpy()
    return result


def training_metrics():
    """compute_metrics for the evaluations during training: the engine hands over each row's number
    (training/engine.py: predicted_ids), already in the user's units (the task's loss rescales them)."""

    def compute(eval_pred) -> dict[str, float]:
        predicted, truth = eval_pred
        scores = summary_metrics(np.asarray(truth), np.asarray(predicted))
        return {name: value for name, value in scores.items() if value is not None}

    return compute


def regression_baselines(data, *, classical: bool, tuned_numbers=None) -> dict:
    """metrics.json's `baseline` (every answer the training mean) and, unless turned off,
    `classical_baseline` (TF-IDF word and character n-grams with ridge regression, on the training
    texts), on the evaluation data and data.test; `tuned_numbers(examples)` gives the fine-tuned
    model's answers for a paired test on the rows the run is judged on (data.test, else eval)."""
    from tailor.evaluation.honesty import scored_baselines

    makers = {"baseline": lambda: _mean_baseline(data.train.columns["label"])}
    if classical:
        makers["classical_baseline"] = lambda: _tfidf_ridge(data.train)

    def score(examples, answers):
        return regression_metrics(_truth(examples), answers, resamples=0, scatter=False)

    def paired(judged, answers):
        return paired_error_test(_truth(judged), tuned, answers)

    if tuned_numbers is not None:
        tuned = tuned_numbers(data.test if data.test is not None else data.eval)
    return scored_baselines(makers, data, score, paired if tuned_numbers is not None else None)


def _truth(examples) -> np.ndarray:
    return np.asarray(examples.columns["label"], dtype=np.float64)


def _mean_baseline(train_values: list[float]):
    mean = float(np.mean(train_values))
    return f"the training mean ({mean:.4g})", lambda examples: np.full(len(examples), mean)


def _tfidf_ridge(train):
    """TF-IDF word 1-2-grams + char 2-5-grams with ridge regression (its strength picked by
    cross-validation on the training texts): the classical model a fine-tuned one has to beat."""
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline

    from tailor.evaluation.classification import joined_texts, tfidf_features

    model = make_pipeline(tfidf_features(len(train)), RidgeCV(alphas=np.logspace(-2, 2, 9)))
    model.fit(joined_texts(train), np.asarray(train.columns["label"], dtype=np.float64))
    return "TF-IDF (word 1-2 + char 2-5 grams) + ridge regression", lambda examples: model.predict(joined_texts(examples))


def paired_error_test(truth: np.ndarray, tuned: np.ndarray, baseline: np.ndarray) -> dict:
    """Wilcoxon's signed-rank test on the two models' absolute errors, row by row: if they were equally
    good, each row would favour either with probability 1/2 (rows with equal errors are left out)."""
    from scipy.stats import wilcoxon

    tuned_error, baseline_error = np.abs(tuned - truth), np.abs(baseline - truth)
    differs = tuned_error != baseline_error
    p_value = float(wilcoxon(tuned_error[differs], baseline_error[differs]).pvalue) if differs.sum() else 1.0
    return {"test": "Wilcoxon signed-rank on absolute errors", "rows": int(len(truth)),
            "only_tuned_right": int(np.sum(tuned_error < baseline_error)),
            "only_baseline_right": int(np.sum(baseline_error < tuned_error)), "p_value": p_value}
