"""Calibration and the decision threshold: the expected calibration error by hand, temperature scaling
on a deliberately over-confident model, the threshold chosen on a hand-made example, and both folded
into a classifier's output layer giving exactly the adjusted answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tailor.evaluation.calibration import (adjusted, calibration_bins, fit_temperature, threshold_shift,
                                           tune_threshold)


def test_expected_calibration_error_matches_a_hand_computation():
    probabilities = np.array([[0.95, 0.05], [0.9, 0.1], [0.35, 0.65], [0.4, 0.6]])
    truth = np.array([0, 1, 1, 1])
    # 15 bins of width 1/15, each (from, to]: 0.95 falls in the last, 0.9 in the one below, 0.65 and 0.6 apart
    confidence = [0.95, 0.9, 0.65, 0.6]
    correct = [1, 0, 1, 1]
    edges = np.linspace(0, 1, 16)
    by_bin: dict[int, list[int]] = {}
    for row, c in enumerate(confidence):
        by_bin.setdefault(int(np.searchsorted(edges, c, side="left")) - 1, []).append(row)
    hand = sum(len(rows) * abs(np.mean([correct[r] for r in rows]) - np.mean([confidence[r] for r in rows]))
               for rows in by_bin.values()) / 4
    result = calibration_bins(truth, probabilities)
    assert result["ece"] == pytest.approx(hand)
    assert sum(b["rows"] for b in result["bins"]) == 4
    assert len(result["bins"]) == len(by_bin)


def _overconfident(rows: int = 4000, seed: int = 0):
    """A three-class model that is right 70% of the time but says so with about 99% confidence."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 3, rows)
    answered = np.where(rng.random(rows) < 0.7, truth, (truth + rng.integers(1, 3, rows)) % 3)
    logits = rng.normal(0, 0.3, (rows, 3))
    logits[np.arange(rows), answered] += 5.0
    return truth, logits - np.log(np.exp(logits).sum(-1, keepdims=True))


def test_temperature_scaling_lowers_the_error_of_an_overconfident_model_and_keeps_its_answers():
    truth, log_p = _overconfident()
    temperature = fit_temperature(truth[:2000], log_p[:2000])  # fitted on one half, judged on the other
    assert temperature > 2  # over-confident: the logits must shrink
    before = calibration_bins(truth[2000:], adjusted(log_p[2000:]))["ece"]
    after = calibration_bins(truth[2000:], adjusted(log_p[2000:], temperature=temperature))["ece"]
    assert before > 0.25 and after < 0.05
    assert (adjusted(log_p, temperature=temperature).argmax(-1) == log_p.argmax(-1)).all()


def test_the_threshold_maximises_the_metric_and_sits_midway_between_the_rows_it_separates():
    from sklearn.metrics import f1_score

    positive_probability = np.array([0.05, 0.10, 0.20, 0.30, 0.40, 0.60, 0.90])
    truth = np.array([0, 0, 0, 1, 1, 1, 1])  # positives from 0.30 up: the best cut is between 0.20 and 0.30
    macro = lambda t, p: f1_score(t, p, average="macro")  # noqa: E731
    threshold, score = tune_threshold(truth, positive_probability, 1, macro)
    assert threshold == pytest.approx(0.25)
    assert score == 1.0
    shifted = adjusted(np.log(np.stack([1 - positive_probability, positive_probability], -1)),
                       threshold_shift(threshold, 1))
    assert (shifted.argmax(-1) == truth).all()  # the shift makes the largest class the thresholded answer


def test_a_decision_folded_into_the_output_layer_gives_the_adjusted_probabilities(tiny_bert):
    from transformers import AutoModelForSequenceClassification

    from tailor.models.head import fold_decision, output_layer

    model = AutoModelForSequenceClassification.from_pretrained(tiny_bert, num_labels=2).eval()
    inputs = {"input_ids": torch.tensor([[101, 2307, 2154, 102], [101, 6659, 2154, 102]])}
    with torch.no_grad():
        before = torch.log_softmax(model(**inputs).logits, -1).numpy().astype(np.float64)
    frozen = {name: p.clone() for name, p in model.named_parameters() if "classifier" not in name}
    shift, temperature = threshold_shift(0.8, 1), 1.7
    fold_decision(model, shift, temperature)
    with torch.no_grad():
        after = torch.softmax(model(**inputs).logits, -1).numpy()
    np.testing.assert_allclose(after, adjusted(before, shift, temperature), atol=1e-6)
    assert output_layer(model) is model.classifier
    assert all(torch.equal(p, frozen[name]) for name, p in model.named_parameters() if name in frozen)
    assert math.isclose(shift[1], -math.log(0.8 / 0.2))


def test_mc_dropout_answers_with_mean_probabilities_and_their_spread(make_config, tmp_path, cli, tiny_bert):
    import json
    import shutil

    path = make_config(train={"epochs": 1})
    assert cli("train", path)[0] == 0
    code, _, err = cli("predict", tmp_path / "runs/config", "--text", "x", "--uncertainty", "mc-dropout")
    assert code == 2 and err.strip() == ("error: --uncertainty mc-dropout: this model has no dropout layers with a "
                                         "rate above 0, so every sample would give the same answer")
    # The same tiny model as BERT ships it, with dropout 0.1 in its config (training runs without: model.dropout 0)
    with_dropout = shutil.copytree(tiny_bert, tmp_path / "tiny-bert-dropout")
    config = json.loads((with_dropout / "config.json").read_text())
    config.update(hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1)
    (with_dropout / "config.json").write_text(json.dumps(config))
    path = make_config(model=str(with_dropout), train={"epochs": 2})
    assert cli("train", path, "--overwrite")[0] == 0
    code, out, err = cli("predict", tmp_path / "runs/config", "--text", "the movie was awful", "--text",
                         "our trip was lovely", "--uncertainty", "mc-dropout", "--samples", "8")
    assert code == 0, err
    answers = [json.loads(line) for line in out.splitlines()]
    assert "model's own dropout rate 0.1 (from its config)" in err
    for answer in answers:
        assert answer["uncertainty"] == {"method": "mc-dropout", "samples": 8, "dropout": [0.1]}
        assert sum(answer["probabilities"].values()) == pytest.approx(1, abs=1e-5)
        assert answer["label"] == max(answer["probabilities"], key=answer["probabilities"].get)
        assert all(s > 0 for s in answer["spread"].values())  # the samples differ: dropout was on
    again = [json.loads(line) for line in cli("predict", tmp_path / "runs/config", "--text", "the movie was awful",
                                              "--text", "our trip was lovely", "--uncertainty", "mc-dropout",
                                              "--samples", "8")[1].splitlines()]
    assert again == answers  # seeded
    plain = [json.loads(line) for line in cli("predict", tmp_path / "runs/config", "--text", "the movie was awful")[1]
             .splitlines()]
    assert "spread" not in plain[0]  # and the model answers deterministically again without the flag
    code, out, err = cli("predict", tmp_path / "runs/config", "--text", "x", "--uncertainty", "ensemble")
    assert code == 2 and "error: --uncertainty ensemble: the method is mc-dropout" in err
