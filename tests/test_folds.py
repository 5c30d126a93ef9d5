"""K-fold cross-validation: folds that are disjoint, cover the file and keep its class proportions;
one run per fold with the summary beside them; a resumed cross-validation keeps finished folds."""

import json
from collections import Counter
from pathlib import Path

import pytest

from tailor.data.examples import Examples
from tailor.data.split import kfold_splits
from tailor.errors import ConfigError
from tailor.evaluation.cross_validation import mean_interval


def _examples(labels: list[str]) -> Examples:
    return Examples(Path("train.csv"), {"text": [f"text {i}" for i in range(len(labels))], "label": labels},
                    [f"line {i + 2}" for i in range(len(labels))])


def test_folds_are_disjoint_cover_every_row_once_and_keep_the_class_proportions():
    labels = ["a"] * 30 + ["b"] * 12 + ["c"] * 3
    splits, note = kfold_splits(_examples(labels), 3, seed=7)
    held = [set(held_out.where) for _, held_out in splits]
    assert set().union(*held) == {f"line {i + 2}" for i in range(45)}
    assert sum(map(len, held)) == 45  # each row held out exactly once
    for (train, held_out), rows in zip(splits, held):
        assert not rows & set(train.where) and len(train) + len(held_out) == 45
        assert Counter(held_out.columns["label"]) == {"a": 10, "b": 4, "c": 1}  # stratified: a third of each
    assert note is None
    again, _ = kfold_splits(_examples(labels), 3, seed=7)
    other, _ = kfold_splits(_examples(labels), 3, seed=8)
    assert [h.where for _, h in again] == [h.where for _, h in splits] != [h.where for _, h in other]


def test_rare_classes_are_noted_and_unlabelled_tasks_get_plain_folds():
    splits, note = kfold_splits(_examples(["a"] * 20 + ["b"] * 2), 4, seed=0)
    assert note == "classes with fewer than 4 examples (b) cannot be in every fold's held-out part"
    assert sorted(len(h) for _, h in splits) == [5, 5, 6, 6]
    splits, note = kfold_splits(_examples(["a"] * 10), 5, seed=0, stratify_by=None)
    assert note is None and [len(h) for _, h in splits] == [2] * 5
    with pytest.raises(ConfigError, match=r"^--folds 11: K-fold needs 2 to 10 folds \(the training file has 10 rows\)$"):
        kfold_splits(_examples(["a"] * 10), 11, seed=0)


def test_mean_interval_is_students_t_over_the_folds():
    stats = mean_interval([0.8, 0.9, 1.0])
    assert stats["mean"] == pytest.approx(0.9) and stats["std"] == pytest.approx(0.1)
    half = 4.302653 * 0.1 / 3 ** 0.5  # t(0.975, 2 degrees of freedom) x sd / sqrt(K)
    assert stats["ci95"] == pytest.approx([0.9 - half, 0.9 + half], abs=1e-5)


def test_train_folds_writes_one_run_per_fold_and_the_summary(make_config, cli, tmp_path):
    config = make_config(train={"epochs": 3, "early_stopping_patience": 2})
    code, out, err = cli("train", config, "--folds", "3")
    assert code == 0, err
    root = tmp_path / "runs" / "config"
    assert {p.name for p in root.iterdir()} == {"config.yaml", "fold-1", "fold-2", "fold-3", "metrics.json",
                                                 "report.html"}
    summary = json.loads((root / "metrics.json").read_text())
    folds = [json.loads((root / f"fold-{i}" / "metrics.json").read_text()) for i in (1, 2, 3)]
    # the whole training file (160 rows) is cut into the folds; data.eval's file is not used
    assert [f["data"]["eval_examples"] for f in folds] == [54, 53, 53]
    assert all(f["data"]["train_examples"] + f["data"]["eval_examples"] == 160 for f in folds)
    assert "data.eval (" in " ".join(summary["notes"])
    scores = [f["eval"]["f1_macro"] for f in folds]
    assert [r["f1_macro"] for r in summary["per_fold"]] == scores
    assert summary["summary"]["eval"]["f1_macro"] == mean_interval(scores)
    assert summary["summary"]["baseline"]["accuracy"]["mean"] == pytest.approx(0.5, abs=0.02)
    for i, fold in enumerate(folds, start=1):
        assert fold["eval_data"].startswith(f"fold {i} of 3:")
        saved = (root / f"fold-{i}" / "config.yaml").read_text()
        assert "restore_best: false" in saved and "early_stopping_patience: null" in saved
        assert fold["train"]["steps"] == 3 * 7  # every configured epoch ran (107 rows at batch 16)
    report = (root / "report.html").read_text()
    assert "3-fold cross-validation" in report and report.count("<td>fold ") == 3
    assert "fold 1 (54 held out)" in out and "95% interval (t, over folds)" in out


def test_resumed_folds_keep_the_finished_ones(make_config, cli, tmp_path):
    config = make_config(train={"epochs": 1})
    assert cli("train", config, "--folds", "2")[0] == 0
    root = tmp_path / "runs" / "config"
    first = (root / "fold-1" / "model" / "model.safetensors").stat().st_mtime_ns
    (root / "fold-2" / "metrics.json").unlink()  # as if killed before fold 2 finished
    (root / "metrics.json").unlink()
    code, out, err = cli("train", config, "--folds", "2", "--resume")
    assert code == 0, err
    assert "fold 1 of 2: finished earlier, kept" in err + out
    assert (root / "fold-1" / "model" / "model.safetensors").stat().st_mtime_ns == first
    assert len(json.loads((root / "metrics.json").read_text())["per_fold"]) == 2
    code, _, err = cli("train", config, "--folds", "3", "--resume")
    assert code == 2 and err.strip().endswith(
        "held out 'fold 1 of 2: 80 rows of train.csv (seed 42)', not 'fold 1 of 3: 54 rows of train.csv (seed 42)': "
        "resume with the --folds and train.seed it was started with, or start over with --overwrite")
    code, _, err = cli("train", config, "--folds", "2")
    assert code == 2 and "already holds a run" in err


def test_restore_best_false_needs_early_stopping_off(make_config, cli):
    code, _, err = cli("train", make_config(), "train.restore_best=false", "train.early_stopping_patience=2")
    assert code == 2
    assert err.strip().endswith("train: early stopping goes back to the best checkpoint; with restore_best: false "
                                "set early_stopping_patience: null")
