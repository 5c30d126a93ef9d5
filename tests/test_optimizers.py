"""Optimisers and schedules: SGD with momentum and RMSprop as transformers builds them, layer-wise
learning-rate decay (the rates per layer, and lower layers moving less), and the L1 penalty (weights
pushed towards zero), each on a tiny model."""

from __future__ import annotations

import json

import pytest
import torch

from task_fixtures import train_tiny_run, weights
from tailor.config import load_config
from tailor.errors import ConfigError
from tailor.training.optimizers import layer_scales, layerwise_groups, optim_args


def _cfg(**train):
    return load_config(None, base={"task": "text-classification", "data": {"train": "x.csv"}, "train": train})


@pytest.mark.parametrize("optimizer, momentum, expected", [("sgd", None, torch.optim.SGD),
                                                           ("rmsprop", 0.5, torch.optim.RMSprop)])
def test_sgd_and_rmsprop_are_built_with_their_momentum(optimizer, momentum, expected, tmp_path):
    from transformers import Trainer, TrainingArguments

    cfg = _cfg(optimizer=optimizer, momentum=momentum)
    args = TrainingArguments(output_dir=str(tmp_path), optim=optimizer, optim_args=optim_args(cfg), use_cpu=True,
                             report_to="none")
    cls, kwargs = Trainer.get_optimizer_cls_and_kwargs(args)
    assert cls is expected
    assert kwargs["momentum"] == (0.9 if momentum is None else momentum)


def test_momentum_is_refused_for_adam():
    with pytest.raises(ConfigError) as refused:
        optim_args(_cfg(momentum=0.9))
    assert str(refused.value) == ("train.momentum is for optimizer sgd or rmsprop; train.optimizer is "
                                  "adamw_torch_fused (Adam-style optimizers keep their own moment estimates)")


def test_layer_rates_shrink_from_the_head_down_to_the_embeddings():
    names = ["bert.embeddings.word_embeddings.weight", "bert.encoder.layer.0.attention.self.query.weight",
             "bert.encoder.layer.1.output.dense.weight", "bert.pooler.dense.weight", "classifier.weight"]
    scales = layer_scales([(n, None) for n in names], 0.5)
    assert scales == {names[0]: 0.125, names[1]: 0.25, names[2]: 0.5, names[3]: 1.0, names[4]: 1.0}
    with pytest.raises(ConfigError, match="has no numbered layers"):
        layer_scales([("classifier.weight", None)], 0.5)


def test_layerwise_groups_carry_each_rate_and_keep_weight_decay_off_biases():
    model = torch.nn.Module()
    model.layer = torch.nn.ModuleList([torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)])
    model.classifier = torch.nn.Linear(2, 2)
    decayed = {"layer.0.weight", "layer.1.weight", "classifier.weight"}
    groups = layerwise_groups(model, 1e-3, 0.5, 0.01, decayed)
    by_rate = {(g["lr"], g["weight_decay"]): len(g["params"]) for g in groups}
    assert by_rate == {(2.5e-4, 0.01): 1, (2.5e-4, 0.0): 1, (5e-4, 0.01): 1, (5e-4, 0.0): 1, (1e-3, 0.01): 1,
                       (1e-3, 0.0): 1}


def _run(folder, request, **train):
    folder.mkdir()
    return train_tiny_run("text-classification", folder, request, **train)


def _moved(run, base) -> dict[str, float]:
    before, after = weights(base), weights(run / "model")
    return {name: float((after[name] - before[name]).abs().mean()) for name in before if name in after}


def test_layer_decay_moves_the_lower_layers_less(tmp_path, request, tiny_bert):
    plain = _run(tmp_path / "plain", request, epochs=6, lr=3e-3)
    decayed = _run(tmp_path / "decayed", request, epochs=6, lr=3e-3, layer_lr_decay=0.3)
    name = next(n for n in weights(tiny_bert) if "embeddings.LayerNorm.weight" in n)
    moved_plain, moved_decayed = _moved(plain, tiny_bert)[name], _moved(decayed, tiny_bert)[name]
    assert moved_decayed < 0.2 * moved_plain  # 0.3^3 of the rate: Adam's steps scale with it
    losses = [h["loss"] for h in json.loads((decayed / "history.json").read_text()) if "loss" in h]
    assert sum(losses[-5:]) < sum(losses[:5])


def test_an_l1_penalty_shrinks_the_weights(tmp_path, request):
    plain = _run(tmp_path / "plain", request, epochs=2)
    sparse = _run(tmp_path / "sparse", request, epochs=2, l1=0.01)
    size = lambda run: sum(float(w.abs().sum()) for n, w in weights(run / "model").items()  # noqa: E731
                           if n.endswith("weight") and w.dim() == 2)
    assert size(sparse) < 0.9 * size(plain)
    assert "l1: 0.01" in (sparse / "config.yaml").read_text()


def test_sgd_with_momentum_trains(tmp_path, request):
    run = train_tiny_run("text-classification", tmp_path, request, epochs=4, optimizer="sgd", lr=0.05)
    losses = [h["loss"] for h in json.loads((run / "history.json").read_text()) if "loss" in h]
    assert sum(losses[-3:]) < sum(losses[:3])
