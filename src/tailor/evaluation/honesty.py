"""Scores a user can trust: bootstrap 95 % intervals, a paired test of the tuned model against a
baseline on the same rows (McNemar's, exact), and the warnings a careful reviewer would give: the
fine-tuned model does not beat the classical baseline, the data is too small to tell them apart, or
evaluation rows also appear in training. scipy and scikit-learn do the statistics."""

from __future__ import annotations

import numpy as np

RESAMPLES = 1000
SIGNIFICANCE = 0.05


def bootstrap_interval(truth: np.ndarray, predicted: np.ndarray, score, seed: int = 0,
                       resamples: int = RESAMPLES) -> list[float]:
    """The 95 % percentile-bootstrap interval of `score(truth, predicted)` over the rows."""
    from scipy.stats import bootstrap

    if len(truth) < 2:
        return [float("nan"), float("nan")]
    result = bootstrap((truth, predicted), score, paired=True, vectorized=False, n_resamples=resamples,
                       method="percentile", confidence_level=0.95, rng=np.random.default_rng(seed))
    low, high = result.confidence_interval
    return [round(float(low), 4), round(float(high), 4)]


def paired_test(truth: np.ndarray, tuned: np.ndarray, baseline: np.ndarray) -> dict:
    """McNemar's exact test on the rows where exactly one of the two is right: if the models were
    equally good, each such row would go either way with probability 1/2."""
    from scipy.stats import binomtest

    tuned_right, baseline_right = tuned == truth, baseline == truth
    only_tuned = int(np.sum(tuned_right & ~baseline_right))
    only_baseline = int(np.sum(baseline_right & ~tuned_right))
    discordant = only_tuned + only_baseline
    p = binomtest(only_tuned, discordant, 0.5).pvalue if discordant else 1.0
    return {"rows": int(len(truth)), "only_tuned_right": only_tuned, "only_baseline_right": only_baseline,
            "p_value": round(float(p), 6)}


def scored_baselines(makers: dict, data, score, paired=None) -> dict:
    """metrics.json entries of baselines: each maker (name -> () -> (method, answer)) fitted and its
    `answer(examples)` scored by `score(examples, answers)` on the evaluation data and data.test;
    `paired(judged, answers)`, when given, compares it with the fine-tuned model on the rows the run is
    judged on (data.test, else eval). Fitting a baseline other than `baseline` is timed."""
    import time

    judged = data.test if data.test is not None else data.eval
    result = {}
    for name, make in makers.items():
        started = time.perf_counter()
        method, answer = make()
        scores = {"method": method, **score(data.eval, answer(data.eval))}
        if data.test is not None:
            scores["test"] = score(data.test, answer(data.test))
        if paired is not None:
            scores["paired_test"] = {"data": "test" if data.test is not None else "eval",
                                     **paired(judged, answer(judged))}
        if name != "baseline":
            scores["runtime_s"] = round(time.perf_counter() - started, 1)
        result[name] = scores
    return result


def paired_counts(test: dict, baseline: str = "the baseline") -> str:
    """The rows a paired test turned on, in words: right and wrong answers (classes), or closer ones (numbers)."""
    if test.get("test", "").startswith("Wilcoxon"):
        return (f"{test['only_tuned_right']} rows where the fine-tuned model was closer to the truth, "
                f"{test['only_baseline_right']} where {baseline} was")
    return f"{test['only_tuned_right']} rows only the fine-tuned model got right, {test['only_baseline_right']} only {baseline}"


# The metric the headline is judged by against the baselines, and whether more is better: macro F1 for
# classes (a majority class cannot game it), RMSE for numbers, exact match for answers.
JUDGED_BY = (("f1_macro", True), ("rmse", False), ("exact_match", True))


def honesty_warnings(metrics: dict, overlaps: dict[str, int]) -> list[str]:
    """What would make a reader distrust the headline number: judged on data.test when there is one
    (the rows nothing was picked on), else on the evaluation split."""
    warnings = [f"{count} {split} examples also appear in the training data: their scores flatter the model; "
                f"de-duplicate before splitting" for split, count in overlaps.items() if count]
    split = "test" if "test" in metrics else "eval"
    tuned = metrics[split]
    metric, greater = next(((name, greater) for name, greater in JUDGED_BY if name in tuned), (None, True))
    better = (lambda a, b: a > b) if greater else (lambda a, b: a < b)  # noqa: E731
    baselines = [(name, m) for name, m in metrics.items() if name.endswith("baseline") and isinstance(m, dict)]
    judged = [(m.get("method", name), m if split == "eval" else m.get("test")) for name, m in baselines]
    judged = [(method, m) for method, m in judged if m and metric in m]
    if metric is None or not judged:
        return warnings
    method, best = (max if greater else min)(judged, key=lambda item: item[1][metric])
    where = "data.test" if split == "test" else "the evaluation split"
    if not better(tuned[metric], best[metric]):
        warnings.append(f"the fine-tuned model does not beat {method} on {where}: {metric} {tuned[metric]:.4f} "
                        f"against {best[metric]:.4f}; the simpler model is the one to ship")
        return warnings
    test = best.get("paired_test")
    if test and test["p_value"] >= SIGNIFICANCE:
        warnings.append(f"{where} has {test['rows']:,} rows: too few to tell the fine-tuned model ({metric} "
                        f"{tuned[metric]:.4f}) from {method} ({best[metric]:.4f}) apart ({test.get('test', 'McNemar')} "
                        f"p = {test['p_value']:.3f}: {paired_counts(test)}); evaluate on more data before "
                        "trusting the difference")
    return warnings


def split_overlaps(data) -> dict[str, int]:
    """How many evaluation (and test) examples have exactly the input of a training example: texts (with
    their pair), or a tagged sentence's tokens. Images are compared by their pixels in `tailor data check`."""
    if not {"text", "tokens"} & set(data.train.columns):
        return {}
    seen = set(_inputs(data.train_unsampled))
    splits = {"evaluation": data.eval, **({"test": data.test} if data.test is not None else {})}
    return {name: sum(k in seen for k in _inputs(examples)) for name, examples in splits.items()}


def _inputs(examples) -> list:
    if "tokens" in examples.columns:
        return [tuple(tokens) for tokens in examples.columns["tokens"]]
    pairs = examples.get("text_pair") or [None] * len(examples)
    return list(zip(examples.columns["text"], pairs))
