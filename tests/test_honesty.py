"""Honest reports: bootstrap intervals, McNemar's paired test by hand, and the warnings a reader needs:
the fine-tuned model loses to the classical baseline, the data is too small to tell them apart,
evaluation rows also appear in training."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import sentiment_rows, write_csv
from tailor.evaluation.honesty import bootstrap_interval, honesty_warnings, paired_test


def test_paired_test_counts_the_rows_only_one_model_got_right():
    truth = np.array([1, 1, 1, 1, 0, 0, 0, 0, 1, 0])
    tuned = np.array([1, 1, 1, 1, 0, 0, 0, 1, 1, 0])
    base = np.array([0, 0, 0, 1, 0, 0, 0, 0, 0, 1])
    result = paired_test(truth, tuned, base)
    # tuned alone right on rows 0, 1, 2, 8, 9; the baseline alone on row 7: exact binomial, two-sided
    assert (result["only_tuned_right"], result["only_baseline_right"]) == (5, 1)
    assert result["p_value"] == pytest.approx(2 * (1 + 6) / 2 ** 6, abs=1e-6)


def test_a_bootstrap_interval_holds_the_score_and_narrows_with_more_rows():
    from sklearn.metrics import accuracy_score

    rng = np.random.default_rng(0)

    def interval(rows: int):
        truth = rng.integers(0, 2, rows)
        predicted = np.where(rng.random(rows) < 0.8, truth, 1 - truth)
        return accuracy_score(truth, predicted), bootstrap_interval(truth, predicted, accuracy_score)

    small_score, (low, high) = interval(100)
    large_score, (large_low, large_high) = interval(4000)
    assert low <= small_score <= high and large_low <= large_score <= large_high
    assert large_high - large_low < 0.5 * (high - low)
    assert large_low < 0.8 < large_high


def _metrics(tuned: float, baseline: float, p: float, rows: int = 40) -> dict:
    test = {"rows": rows, "only_tuned_right": 3, "only_baseline_right": 1, "p_value": p, "data": "eval"}
    return {"eval": {"f1_macro": tuned}, "classical_baseline": {"method": "TF-IDF", "f1_macro": baseline,
                                                                  "paired_test": test}}


def test_a_model_that_does_not_beat_the_classical_baseline_is_said_to_lose():
    assert honesty_warnings(_metrics(0.80, 0.82, 0.5), {}) == [
        "the fine-tuned model does not beat TF-IDF on the evaluation split: f1_macro 0.8000 against 0.8200; the "
        "simpler model is the one to ship"]


def test_a_difference_the_data_cannot_show_is_said_to_be_too_small():
    assert honesty_warnings(_metrics(0.85, 0.80, 0.625), {"evaluation": 2, "test": 0}) == [
        "2 evaluation examples also appear in the training data: their scores flatter the model; de-duplicate "
        "before splitting",
        "the evaluation split has 40 rows: too few to tell the fine-tuned model (f1_macro 0.8500) from TF-IDF "
        "(0.8000) apart (McNemar p = 0.625: 3 rows only the fine-tuned model got right, 1 only the baseline); evaluate "
        "on more data before trusting the difference"]
    assert honesty_warnings(_metrics(0.85, 0.80, 0.01), {}) == []


def test_a_run_reports_intervals_paired_tests_and_overlap(make_config, tmp_path, cli):
    rows = sentiment_rows(160, seed=1)
    write_csv(tmp_path / "train.csv", rows)
    write_csv(tmp_path / "test.csv", rows[:5] + sentiment_rows(35, seed=3))  # 5 test rows copied from training
    path = make_config(data={"test": "test.csv"}, text_classification={"classical_baseline": True},
                       eval={"bootstrap": 1000})
    code, out, err = cli("train", path)
    assert code == 0, err
    import json

    metrics = json.loads((tmp_path / "runs/config/metrics.json").read_text())
    low, high = metrics["test"]["ci95"]["f1_macro"]
    assert low <= metrics["test"]["f1_macro"] <= high
    paired = metrics["classical_baseline"]["paired_test"]
    assert paired["data"] == "test" and paired["rows"] == 40
    assert "f1_macro" in metrics["classical_baseline"]["test"]
    # (eval.csv's short random sentences may repeat some training ones too: that warning comes first)
    overlap = [w for w in metrics["warnings"] if "test examples also appear in the training data" in w]
    copied = sum(r["text"] in {t["text"] for t in rows} for r in rows[:5] + sentiment_rows(35, seed=3))
    assert overlap == [f"{copied} test examples also appear in the training data: their scores flatter the "
                       "model; de-duplicate before splitting"] and copied >= 5
    assert "95% interval (bootstrap)" in out and f"WARNING: {overlap[0]}" in out
    report = (tmp_path / "runs/config/report.html").read_text()
    assert "McNemar" in report and "class='warning'" in report
