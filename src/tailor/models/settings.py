"""Training-time settings of a built model that do not change its weights: dropout and the attention
kernel. They are applied to the modules, not the saved config, so model/ keeps the model's own values
for whoever fine-tunes it next."""

from __future__ import annotations

import torch
from torch import nn

from tailor.config import Config
from tailor.console import warn


def apply_model_settings(model: nn.Module, cfg: Config, cpu_attention: str | None = None) -> None:
    """`cpu_attention` is the task's choice for model.attention=auto on a CPU."""
    if cfg.model.dropout is not None:
        set_dropout(model, cfg.model.dropout)
    attention = choose_attention(cfg.model.attention, cpu_attention)
    if not attention or not hasattr(model, "set_attn_implementation"):
        return
    try:  # a no-op where the model already uses that kernel
        model.set_attn_implementation(attention)
    except (ValueError, ImportError) as exc:  # an architecture without that kernel keeps its own
        warn(f"model.attention={attention} is not available for this model ({exc}); "
             f"using {model.config._attn_implementation}")


def set_dropout(model: nn.Module, probability: float) -> None:
    """Every nn.Dropout, plus the attention-dropout floats that attention functions read at call time
    (Llama-style `attention_dropout`); BERT's attention reads its nn.Dropout's p, so both are covered."""
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = probability
        if isinstance(getattr(module, "attention_dropout", None), float):
            module.attention_dropout = probability


def choose_attention(requested: str, cpu_attention: str | None = None) -> str | None:
    """'auto': the task's measured choice on a CPU; on a GPU, or where the task has no choice (None),
    transformers' default."""
    if requested != "auto":
        return requested
    return None if torch.cuda.is_available() else cpu_attention
