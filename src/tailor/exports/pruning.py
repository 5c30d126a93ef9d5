"""Structured pruning that really removes work: the top transformer layers are dropped, so every
forward pass runs fewer blocks (for BERT-style encoders the top layers are the ones that can go at
the least cost: Sajjad et al., "On the effect of dropping layers of pre-trained transformer
models", 2020). The result is a plain model folder that loads, evaluates and fine-tunes like any
other."""

from __future__ import annotations

from torch import nn

from tailor.errors import ConfigError


def layer_stack(model: nn.Module) -> tuple[nn.Module, str, nn.ModuleList] | None:
    """(parent, attribute, layers) of the model's stack of transformer blocks, when the config counts
    them (num_hidden_layers): a CNN's blocks change shape from one to the next and cannot be dropped."""
    from tailor.models.methods import transformer_layers

    count = getattr(model.config, "num_hidden_layers", None)
    try:
        layers = transformer_layers(model.base_model)
    except ConfigError:
        return None
    if count is None or len(layers) != count:
        return None
    for parent in model.modules():
        for attribute, child in parent.named_children():
            if child is layers:
                return parent, attribute, layers
    return None


def keep_bottom_layers(model: nn.Module, keep: int, setting: str = "--keep-layers") -> nn.Module:
    """The model with only its first `keep` transformer layers (in place); config updated to match.
    `setting`: what the user wrote `keep` as, for the errors."""
    stack = layer_stack(model)
    if stack is None:
        raise ConfigError(f"{setting}: this {model.config.model_type} model has no stack of transformer layers to "
                          "drop")
    parent, attribute, layers = stack
    if not 0 < keep < len(layers):
        raise ConfigError(f"{setting} {keep}: the model has {len(layers)} layers; keep between 1 and "
                          f"{len(layers) - 1}")
    setattr(parent, attribute, nn.ModuleList(list(layers)[:keep]))
    model.config.num_hidden_layers = keep
    return model
