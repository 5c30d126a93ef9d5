"""A fitted decision rule folded into the classifier's output layer, so the saved model answers with
it wherever it runs: tailor predict and serve, an ONNX export, a plain transformers pipeline.

logits' = (W x + b + shift) / T  =  (W / T) x + (b + shift) / T: a per-class shift of the logits (a
decision threshold, for two classes) and a temperature are one change of the last linear layer."""

from __future__ import annotations

import numpy as np
import torch

from tailor.errors import ConfigError


def output_layer(model) -> torch.nn.Linear:
    """The linear layer whose outputs are the class logits: the last Linear with one output per label
    (BERT's `classifier`, EfficientNet's, ViT's ...)."""
    classes = model.config.num_labels
    found = [m for m in model.modules() if isinstance(m, torch.nn.Linear) and m.out_features == classes]
    if not found:
        raise ConfigError(f"{type(model).__name__} has no linear output layer with one output per label "
                          f"({classes}), which eval.threshold and eval.calibrate adjust; set them to none")
    return found[-1]


@torch.no_grad()
def fold_decision(model, shift: np.ndarray | None, temperature: float) -> None:
    """Change the output layer in place so its logits become (logits + shift) / temperature."""
    layer = output_layer(model)
    if layer.bias is None:  # a shift needs a bias; a zero one changes nothing else
        layer.bias = torch.nn.Parameter(torch.zeros(layer.out_features, dtype=layer.weight.dtype,
                                                    device=layer.weight.device))
    if shift is not None:
        layer.bias += torch.as_tensor(shift, dtype=layer.bias.dtype, device=layer.bias.device)
    layer.weight /= temperature
    layer.bias /= temperature
