"""Skewed data: data.sampling's counts (training split only), eval.threshold and eval.calibrate fitted on
the evaluation split and saved in the model that predict answers with, and the keys refused where they
cannot apply."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

import tailor
from conftest import sentiment_rows, write_csv
from tailor.data.examples import Examples
from tailor.data.sampling import NO_ENTITY, balance_keys, resample
from tailor.errors import ConfigError


def _labelled(labels: list[str]) -> Examples:
    return Examples(Path("train.csv"), {"text": [f"t{i}" for i in range(len(labels))], "label": labels},
                    [f"row {i + 2}" for i in range(len(labels))])


def test_oversampling_repeats_the_smaller_classes_up_to_the_largest():
    train = _labelled(["a"] * 10 + ["b"] * 3 + ["c"] * 1)
    resampled, note = resample(train, "oversample", train.columns["label"], seed=0)
    assert Counter(resampled.columns["label"]) == {"a": 10, "b": 10, "c": 10}
    assert set(resampled.columns["text"]) == set(train.columns["text"])  # every original row kept
    assert note == ("data.sampling=oversample: 14 -> 30 training examples (16 repeated, at random with seed 0; "
                    "a 10 -> 10, b 3 -> 10, c 1 -> 10); evaluation data as it is")


def test_undersampling_keeps_as_many_of_each_class_as_the_smallest_has():
    train = _labelled(["a"] * 10 + ["b"] * 3 + ["c"] * 2)
    resampled, note = resample(train, "undersample", train.columns["label"], seed=0)
    assert Counter(resampled.columns["label"]) == {"a": 2, "b": 2, "c": 2}
    assert "15 -> 6 training examples (9 left out" in note
    again, _ = resample(train, "undersample", train.columns["label"], seed=0)
    assert again.columns["text"] == resampled.columns["text"]  # seeded


def test_a_tagged_sentence_counts_as_its_rarest_entity_type():
    tags = [["B-PER", "O", "B-LOC"], ["B-PER", "I-PER"], ["O", "O"], ["B-LOC"], ["B-PER"], ["B-MISC", "B-PER"]]
    train = Examples(Path("train.conll"), {"tokens": [["w"] * len(t) for t in tags], "tags": tags},
                     [f"sentence {i + 1}" for i in range(len(tags))])
    assert balance_keys("tags", train) == ["LOC", "PER", NO_ENTITY, "LOC", "PER", "MISC"]


def _skewed_rows(positive: int, negative: int, seed: int) -> list[dict]:
    rows = sentiment_rows(2 * max(positive, negative), seed=seed)
    return ([r for r in rows if r["label"] == "positive"][:positive] +
            [r for r in rows if r["label"] == "negative"][:negative])


def test_sampling_rebalances_the_training_split_and_never_the_evaluation_data(make_config, tmp_path):
    from tailor.data.loading import load_task_data
    from tailor.verbs.common import resolved

    path = make_config(data={"sampling": "oversample"})
    write_csv(tmp_path / "train.csv", _skewed_rows(60, 6, seed=1))
    cfg, task = resolved(path)
    data = load_task_data(task, cfg)
    assert Counter(data.train.columns["label"]) == {"positive": 60, "negative": 60}
    assert Counter(data.train_unsampled.columns["label"]) == {"positive": 60, "negative": 6}
    eval_rows = sentiment_rows(40, seed=2)  # the fixture's eval.csv, as written
    assert data.eval.columns["text"] == [r["text"] for r in eval_rows]
    assert any(note.startswith("data.sampling=oversample: 66 -> 120") for note in data.notes)

    held_out = make_config(data={"sampling": "oversample", "eval": 0.25})
    cfg, task = resolved(held_out)
    data = load_task_data(task, cfg)  # a held-out fraction is split off before resampling
    assert Counter(data.eval.columns["label"]) == {"positive": 15, "negative": 2}
    # resampled from the training part only: no held-out row (named by its line) is repeated into training
    assert set(data.train.where) == set(data.train_unsampled.where)
    assert not set(data.eval.where) & set(data.train.where)
    assert len(data.train) == 2 * Counter(data.train_unsampled.columns["label"])["positive"]


def test_threshold_and_temperature_are_fitted_saved_and_used_by_predict(make_config, tmp_path):
    path = make_config(data={"test": "test.csv"}, eval={"threshold": "tune", "calibrate": "temperature"},
                       train={"epochs": 3})
    write_csv(tmp_path / "train.csv", _skewed_rows(120, 12, seed=1))
    write_csv(tmp_path / "test.csv", sentiment_rows(60, seed=3))
    metrics = tailor.train(path).metrics
    decision = metrics["decision"]
    assert decision["threshold"]["label"] == "negative" and decision["threshold"]["chosen"] == "tuned"
    assert 0 < decision["threshold"]["probability"] < 1 and decision["temperature"] > 0
    saved = json.loads((tmp_path / "runs/config/model/config.json").read_text())
    assert saved["tailor_decision"] == {"threshold": decision["threshold"], "temperature": decision["temperature"]}
    # What the saved model scores on data.test is what the fitted adjustment predicted it would:
    assert metrics["test"]["f1_macro"] == pytest.approx(decision["test"]["as_saved"]["f1_macro"], abs=1e-6)
    assert metrics["test"]["ece"] == pytest.approx(decision["test"]["as_saved"]["ece"], abs=1e-5)
    assert metrics["eval"]["f1_macro"] >= decision["eval"]["as_trained"]["f1_macro"]  # tuned on it: never worse
    answers = tailor.predict(tmp_path / "runs/config", data=tmp_path / "test.csv")
    predicted_rate = sum(a["label"] == "negative" for a in answers) / len(answers)
    confusion = metrics["test"]["confusion_matrix"]
    assert predicted_rate == pytest.approx(sum(row[confusion["labels"].index("negative")]
                                               for row in confusion["matrix"]) / 60)
    assert all(a["probabilities"][a["label"]] >= 0.5 for a in answers)  # the answer is the likelier class
    assert "Calibration" in (tmp_path / "runs/config/report.html").read_text()


def test_a_threshold_needs_two_classes_and_is_refused_before_training(make_config, tmp_path):
    path = make_config(eval={"threshold": 0.3})
    rows = sentiment_rows(40, seed=1)
    rows[0]["label"] = "neutral"
    write_csv(tmp_path / "train.csv", rows)
    with pytest.raises(ConfigError) as refused:
        tailor.train(path)
    assert str(refused.value) == ("eval.threshold=0.3: a decision threshold is for two classes, and the training "
                                  "data has 3 (negative, neutral, positive); set eval.threshold=none")
    assert not (tmp_path / "runs").exists()
    write_csv(tmp_path / "train.csv", sentiment_rows(40, seed=1))
    with pytest.raises(ConfigError) as refused:
        tailor.train(make_config(eval={"threshold": "tune", "positive_label": "good"}))
    assert str(refused.value) == ("eval.positive_label='good' is not a label of the training data (its labels: "
                                  "negative, positive)")


def test_decision_keys_are_refused_by_tasks_without_one_class_per_input():
    from tailor.config import load_config
    from tailor.tasks import get_task, resolve_config

    cfg = load_config(None, base={"task": "token-classification", "data": {"train": "x.conll"},
                                  "eval": {"calibrate": "temperature"}})
    with pytest.raises(ConfigError) as refused:
        resolve_config(cfg, get_task("token-classification"))
    assert str(refused.value) == ("eval.calibrate: for tasks that answer one class per input (text and image "
                                  "classification); task token-classification learns tags")
    cfg = load_config(None, base={"task": "chat", "data": {"train": "x.jsonl", "sampling": "oversample"}})
    with pytest.raises(ConfigError) as refused:
        resolve_config(cfg, get_task("chat"))
    assert str(refused.value).startswith("data.sampling: for tasks that learn classes or tags")
    with pytest.raises(ConfigError) as refused:
        load_config(None, base={"task": "text-classification", "data": {"train": "x.csv"}, "eval": {"threshold": 1.5}})
    assert "a fixed threshold is a probability between 0 and 1" in str(refused.value)


def test_data_check_recommends_the_measured_settings_for_a_heavy_skew(make_config, tmp_path, cli):
    write_csv(tmp_path / "train.csv", _skewed_rows(150, 10, seed=1))
    code, out, err = cli("data", "check", make_config(data={"sampling": "oversample"}))
    assert code == 0, err
    assert "imbalanced classes: 'positive' has 150 examples, 'negative' only 10 (15:1)" in out  # as the file has it
    assert ("recommended for this skew: train.class_weights=auto train.loss=focal eval.threshold=tune; on 50:1 "
            "training tweets they raised macro-F1 on balanced test data from 0.41 to 0.81") in out
    assert ("the evaluation data has 20 'negative' examples: a threshold tuned on so few is noisy; give data.eval a "
            "file with at least 30 of them") in out


def test_an_image_run_saves_its_threshold_and_temperature_in_its_head(tmp_path, request):
    from tailor.config import load_config
    from task_fixtures import TASK_FIXTURES, fast_config

    fixture = TASK_FIXTURES["image-classification"]
    config = {"task": "image-classification", "output": {"dir": str(tmp_path / "run")},
              **fast_config(request.getfixturevalue(fixture.model), fixture.write(tmp_path), fixture.config, epochs=1)}
    config["eval"].update(threshold="tune", calibrate="temperature")
    for key in ("train", "eval"):
        config["data"][key] = str(tmp_path / config["data"][key])
    metrics = tailor.train(load_config(None, base=config)).metrics
    saved = metrics["decision"]["eval"]["as_saved"]
    # model/ scored after the fold answers as the adjustment fitted on its probabilities said it would
    assert metrics["eval"]["f1_macro"] == pytest.approx(saved["f1_macro"], abs=1e-6)
    assert metrics["eval"]["ece"] == pytest.approx(saved["ece"], abs=1e-5)


def test_max_samples_draws_at_most_that_many_of_each_split_and_says_so(make_config, tmp_path):
    from tailor.data.loading import load_task_data
    from tailor.verbs.common import resolved

    write_csv(tmp_path / "train.csv", sentiment_rows(50, seed=1))
    cfg, task = resolved(make_config(data={"max_samples": 20}))
    data = load_task_data(task, cfg)
    assert (len(data.train), len(data.eval)) == (20, 20)
    assert len(set(data.train.where)) == 20 and data.train.where == sorted(data.train.where, key=_line)  # file order
    assert "data.max_samples=20: 20 of 50 training examples, drawn at random (seed 42); the other 30 are left out" \
        in data.notes
    again, _ = resolved(make_config(data={"max_samples": 20}))
    assert load_task_data(task, again).train.where == data.train.where  # the seed decides, not chance
    assert load_task_data(task, resolved(make_config(data={"max_samples": 60}))[0]).train.where == \
        [f"line {n}" for n in range(2, 52)]  # fewer examples than the limit: all of them


def _line(where: str) -> int:
    return int(where.removeprefix("line "))
