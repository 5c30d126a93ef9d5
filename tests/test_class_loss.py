"""train.class_weights and train.loss: weights derived as scikit-learn's 'balanced', focal loss
against a hand computation, the keys refused where a task has no classes, and a run that trains
with both."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F

from task_fixtures import train_tiny_run
from tailor.errors import ConfigError
from tailor.training.losses import class_weights, target_losses


def test_auto_weights_are_inverse_frequency_with_mean_one_and_an_absent_tag_keeps_one():
    targets = ["a"] * 6 + ["b"] * 2
    assert class_weights("auto", ["a", "b", "I-never"], targets) == [round(8 / (2 * 6), 6), 2.0, 1.0]
    weights = class_weights("auto", ["a", "b"], targets)
    assert sum(w * targets.count(label) for w, label in zip(weights, ["a", "b"])) == pytest.approx(len(targets))
    assert class_weights("none", ["a", "b"], targets) is None


def test_given_weights_must_name_labels_of_the_data():
    assert class_weights({"b": 3}, ["a", "b"], ["a", "b"]) == [1.0, 3.0]
    with pytest.raises(ConfigError) as refused:
        class_weights({"c": 2, "b": 3}, ["a", "b"], ["a", "b"])
    assert str(refused.value) == "train.class_weights names 'c', not a label of the training data (its labels: a, b)"


def test_focal_and_weighted_losses_match_a_hand_computation():
    logits = torch.tensor([[2.0, 0.0], [0.5, 1.5], [1.0, 1.0]])
    labels = torch.tensor([0, 1, -100])  # the last target is IGNORE
    p0 = math.exp(2.0) / (math.exp(2.0) + 1)
    p1 = math.exp(1.5) / (math.exp(0.5) + math.exp(1.5))
    hand = [-(1 - p0) ** 2 * math.log(p0) * 0.5, -(1 - p1) ** 2 * math.log(p1) * 3.0]
    got = target_losses(logits, labels, weights=[0.5, 3.0], focal_gamma=2.0)
    torch.testing.assert_close(got, torch.tensor(hand))
    plain = target_losses(logits, labels)
    torch.testing.assert_close(plain.sum(), F.cross_entropy(logits, labels, ignore_index=-100, reduction="sum"))


def test_a_task_without_classes_refuses_the_keys():
    from tailor.config import load_config
    from tailor.tasks import get_task, resolve_config

    cfg = load_config(None, base={"task": "chat", "data": {"train": "x.jsonl"}, "train": {"loss": "focal"}})
    with pytest.raises(ConfigError) as refused:
        resolve_config(cfg, get_task("chat"))
    assert str(refused.value) == ("train.loss: for tasks that learn classes or tags (text, token and image "
                                  "classification); task chat learns text")


@pytest.mark.parametrize("name", ["text-classification", "token-classification"])
def test_a_run_trains_with_auto_weights_and_focal_loss(name, tmp_path, request):
    run = train_tiny_run(name, tmp_path, request, epochs=8, class_weights="auto", loss="focal")
    losses = [entry["loss"] for entry in json.loads((run / "history.json").read_text()) if "loss" in entry]
    assert sum(losses[-5:]) < sum(losses[:5])  # it learns: the last steps' loss below the first steps'
    assert "class_weights: auto" in (run / "config.yaml").read_text()
