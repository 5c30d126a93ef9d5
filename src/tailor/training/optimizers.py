"""What the optimizer step does beyond transformers' choice of optimizer: momentum for SGD and RMSprop
(train.momentum), a learning rate that shrinks layer by layer from the head down (train.layer_lr_decay),
and an L1 penalty beside weight decay (train.l1)."""

from __future__ import annotations

import re

import torch

from tailor.config import Config
from tailor.errors import ConfigError

# Momentum when train.momentum is left open: SGD is almost always run with it; RMSprop's is torch's 0.
DEFAULT_MOMENTUM = {"sgd": 0.9, "rmsprop": 0.0}
# A parameter's layer index in the usual layouts: BERT's encoder.layer.N, Llama's layers.N, GPT-2's h.N,
# ViT's / EfficientNet's blocks.N (_blocks.N).
_LAYER = re.compile(r"(?:^|\.)_?(?:layer|layers|h|blocks|block)\.(\d+)\.")
_BOTTOM = ("embed", "stem", "_bn0")  # below the first layer: word/patch embeddings, a CNN's stem


def optim_args(cfg: Config) -> str | None:
    """transformers' optim_args string for the chosen optimizer (momentum for sgd and rmsprop)."""
    t = cfg.train
    if t.momentum is not None and t.optimizer not in DEFAULT_MOMENTUM:
        raise ConfigError(f"train.momentum is for optimizer sgd or rmsprop; train.optimizer is {t.optimizer} "
                          "(Adam-style optimizers keep their own moment estimates)")
    if t.optimizer not in DEFAULT_MOMENTUM:
        return None
    momentum = DEFAULT_MOMENTUM[t.optimizer] if t.momentum is None else t.momentum
    return f"momentum={momentum}"


def layer_scales(named_parameters, decay: float) -> dict[str, float]:
    """Each parameter's learning-rate multiplier under layer-wise decay (as BEiT and timm do): the
    head and everything above the last layer 1, layer i (of L) decay^(L - i), embeddings decay^(L + 1)."""
    names = [name for name, _ in named_parameters]
    depth = {name: int(m.group(1)) + 1 for name in names if (m := _LAYER.search(name))}
    if not depth:
        raise ConfigError("train.layer_lr_decay: this model has no numbered layers (layer.N, layers.N, h.N, "
                          "blocks.N) to decay the learning rate over; leave it unset")
    top = max(depth.values()) + 1
    scales = {}
    for name in names:
        level = depth.get(name, 0 if any(part in name for part in _BOTTOM) else top)
        scales[name] = decay ** (top - level)
    return scales


def layerwise_groups(model, lr: float, decay: float, weight_decay: float, decayed: set[str]) -> list[dict]:
    """Optimizer parameter groups, one per (learning rate, weight decay) pair."""
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    scales = layer_scales(trainable, decay)
    groups: dict[tuple[float, float], list] = {}
    for name, parameter in trainable:
        key = (lr * scales[name], weight_decay if name in decayed else 0.0)
        groups.setdefault(key, []).append(parameter)
    return [{"params": params, "lr": group_lr, "weight_decay": wd} for (group_lr, wd), params in groups.items()]


def l1_penalty(model, decayed: set[str]) -> torch.Tensor:
    """The sum of absolute values of the trainable weights that weight decay applies to (not biases
    or norms): train.l1 times this is added to the training loss, pushing small weights to zero."""
    terms = [p.abs().sum() for n, p in model.named_parameters() if p.requires_grad and n in decayed]
    return torch.stack(terms).sum() if terms else torch.zeros(())
