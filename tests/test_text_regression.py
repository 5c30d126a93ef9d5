"""Text regression: numbers read and refused clearly, the metrics against values worked by hand, the
targets standardised for training and answered in the user's units, the baselines, and the CLI end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import tailor
from conftest import write_csv
from task_fixtures import fast_config, rating_rows, train_tiny_run
from tailor.evaluation.regression import paired_error_test, regression_metrics, summary_metrics, target_scale


def test_metrics_match_values_worked_by_hand():
    truth, predicted = np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.5, 2.0, 2.0, 5.0])
    # errors 0.5, 0, -1, 1: squares 0.25, 0, 1, 1 -> MSE 2.25 / 4; absolute 2.5 / 4
    scores = summary_metrics(truth, predicted)
    assert scores["mse"] == pytest.approx(0.5625) and scores["rmse"] == pytest.approx(0.75)
    assert scores["mae"] == pytest.approx(0.625)
    # Pearson by its definition; Spearman is Pearson's of the ranks: truth 1..4, predicted 1, 2.5, 2.5, 4
    centred_t, centred_p = truth - truth.mean(), predicted - predicted.mean()
    pearson = (centred_t @ centred_p) / np.sqrt((centred_t @ centred_t) * (centred_p @ centred_p))
    assert scores["pearson"] == pytest.approx(pearson)
    ranks = np.array([1.0, 2.5, 2.5, 4.0]) - 2.5
    assert scores["spearman"] == pytest.approx((ranks @ (truth - 2.5)) / np.sqrt((ranks @ ranks) * 5.0))


def test_a_constant_answer_has_no_correlation_rather_than_zero():
    scores = regression_metrics(np.array([1.0, 2.0, 3.0]), np.array([2.0, 2.0, 2.0]))
    assert scores["pearson"] is None and scores["spearman"] is None
    assert scores["rmse"] == pytest.approx(np.sqrt(2 / 3)) and scores["rows"] == 3
    assert sum(map(sum, scores["scatter"]["counts"])) == 3  # every row in the report's grid, no row kept


def test_paired_test_counts_the_rows_each_model_is_closer_on():
    truth = np.zeros(12)
    tuned, baseline = np.full(12, 0.1), np.full(12, 1.0)
    baseline[:2] = 0.05  # the baseline is closer on 2 rows
    test = paired_error_test(truth, tuned, baseline)
    assert (test["only_tuned_right"], test["only_baseline_right"], test["rows"]) == (10, 2, 12)
    assert test["p_value"] < 0.05


def test_target_scale_is_the_training_mean_and_spread():
    assert target_scale([1000.0, 1200.0]) == (1100.0, 100.0)
    assert target_scale([5.0, 5.0]) == (5.0, 1.0)  # nothing to divide by: left unscaled


def _config(tmp_path, tiny_bert, **train) -> dict:
    write_csv(tmp_path / "train.csv", rating_rows(60, seed=1))
    write_csv(tmp_path / "eval.csv", rating_rows(20, seed=2))
    data = {"train": str(tmp_path / "train.csv"), "eval": str(tmp_path / "eval.csv"), "max_length": 32}
    config = fast_config(tiny_bert, data, {"text_regression": {"classical_baseline": False}}, **train)
    return {"task": "text-regression", **config, "output": {"dir": str(tmp_path / "run")}}


def test_it_learns_in_the_users_units_and_beats_the_mean(tmp_path, tiny_bert):
    from tailor.config import load_config

    result = tailor.train(load_config(None, base=_config(tmp_path, tiny_bert, epochs=20)))
    metrics = result.metrics
    history = [e["loss"] for e in json.loads((result.dir / "history.json").read_text()) if "loss" in e]
    assert history[-1] < history[0] / 2, history  # the standardised loss falls
    # targets are 1100..1500: the answers are in those units, and far closer than the training mean's
    assert metrics["baseline"]["method"] == "the training mean (1300)"
    assert metrics["eval"]["rmse"] < 0.5 * metrics["baseline"]["rmse"], (metrics["eval"], metrics["baseline"])
    assert metrics["eval"]["pearson"] > 0.9 and metrics["baseline"]["pearson"] is None
    assert metrics["baseline"]["paired_test"]["test"].startswith("Wilcoxon")
    config = json.loads((result.dir / "model" / "config.json").read_text())
    assert config["problem_type"] == "regression" and config["id2label"] == {"0": "label"}
    mean, std = target_scale([row["label"] for row in rating_rows(60, seed=1)])
    assert (config["target_mean"], config["target_std"]) == pytest.approx((mean, std))
    answers = tailor.predict(result.dir, texts=["the meal was superb", "the hotel was awful"])
    assert answers[0]["value"] > 1350 > answers[1]["value"], answers  # superb = 1500, awful = 1100
    report = (result.dir / "report.html").read_text()
    assert "Predicted against true, on the evaluation data" in report


def test_the_saved_head_answers_what_the_trained_head_answered_rescaled(tmp_path, tiny_bert):
    """finish_saved_model folds y = std * z + mean into the output layer; tuning that model further
    rescales its head back to the new data's standard scale."""
    from tailor.config import load_config
    from tailor.data.loading import load_task_data
    from tailor.tasks import get_task
    from tailor.verbs.common import load_run

    result = tailor.train(load_config(None, base=_config(tmp_path, tiny_bert, max_steps=4)))
    task = get_task("text-regression")
    checkpoint = max((result.dir / "checkpoints").glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    standardized, saved = task.load_model(checkpoint), task.load_model(result.dir / "model")
    inputs = {"input_ids": torch.tensor([[101, 2204, 102]]), "attention_mask": torch.ones(1, 3, dtype=torch.long)}
    mean, std = saved.config.target_mean, saved.config.target_std
    with torch.no_grad():
        assert saved(**inputs).logits.item() == pytest.approx(standardized(**inputs).logits.item() * std + mean, rel=1e-5)
    cfg, _, _, _ = load_run(result.dir)
    data = load_task_data(task, cfg)
    data.train.columns["label"] = [value * 2 for value in data.train.columns["label"]]  # new units
    again = task.build_model(str(result.dir / "model"), cfg, data)
    new_mean, new_std = target_scale(data.train.columns["label"])
    with torch.no_grad():
        expected = (saved(**inputs).logits.item() - new_mean) / new_std
        assert again(**inputs).logits.item() == pytest.approx(expected, rel=1e-4)


def test_numbers_are_read_from_text_and_a_bad_one_is_named(tmp_path, tiny_bert, cli):
    import yaml

    config = _config(tmp_path, tiny_bert, max_steps=1)
    rows = [{"text": "fine", "label": "3.5"}, {"text": "good", "label": "4"}, {"text": "meh", "label": "n/a"}]
    write_csv(tmp_path / "bad.csv", rows)
    config["data"]["train"] = str(tmp_path / "bad.csv")
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    code, _, err = cli("train", str(path))
    assert code == 2 and "Traceback" not in err
    assert (f"{tmp_path / 'bad.csv'}, line 4, field 'label': 'n/a' is not a number. Put a number there (like 3.5) "
            "or remove the row") in err, err
    code, _, err = cli("train", str(path), "data.on_invalid=skip", "train.max_steps=1", "data.eval=0.3")
    assert code == 0, err
    assert "skipped 1 row (1 with 'n/a' is not a number in 'label')" in err


def test_data_check_shows_the_targets_spread(tmp_path, tiny_bert, cli):
    import yaml

    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(_config(tmp_path, tiny_bert)))
    code, out, err = cli("data", "check", str(path))
    assert code == 0, err
    assert "targets (train): mean 1300  std 141.4  min 1100" in out, out


def test_class_settings_are_refused_for_numbers(tmp_path, tiny_bert, cli):
    import yaml

    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(_config(tmp_path, tiny_bert)))
    code, _, err = cli("train", str(path), "train.class_weights=auto")
    assert code == 2 and "train.class_weights: for tasks that learn classes or tags" in err
    assert "task text-regression learns numbers" in err


def test_cli_predict_prints_the_number(tmp_path, request, cli):
    run = train_tiny_run("text-regression", tmp_path, request, max_steps=2)
    code, out, err = cli("predict", str(run), "--text", "the film was good")
    assert code == 0, err
    assert '"value":' in out
