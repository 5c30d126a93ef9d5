"""Which weights train: full fine-tuning, freezing (head only or top N layers), or LoRA via peft."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
from torch import nn

from tailor.config import Config
from tailor.errors import ConfigError


@dataclass(frozen=True)
class TrainableSummary:
    method: str
    trainable: int
    total: int

    def __str__(self) -> str:
        share = 100 * self.trainable / max(self.total, 1)
        return f"method {self.method}: {self.trainable:,} of {self.total:,} parameters train ({share:.2f}%)"


def apply_method(model: nn.Module, cfg: Config, task) -> tuple[nn.Module, TrainableSummary]:
    if cfg.method == "freeze":
        freeze_backbone(model, trainable_top_layers=cfg.freeze.layers)
    elif cfg.method == "lora":
        model = add_lora(model, cfg, task.peft_task_type, task.lora_head)
        keep_batchnorm_statistics(model)  # LoRA adapts convolutions; their BatchNorm stays as pretrained
    if cfg.train.freeze_embeddings and cfg.method != "freeze":
        freeze_input_embeddings(model)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    if trainable == 0:
        raise ConfigError(f"method={cfg.method} leaves no parameter to train in this model (a language model's "
                          "output head shares the frozen input embeddings); set freeze.layers=N to train the top "
                          "N layers, or use method=lora")
    return model, TrainableSummary(cfg.method, trainable, total)


def freeze_input_embeddings(model: nn.Module) -> None:
    """The word-embedding matrix stays fixed. Models whose inputs are not words (a ViT reports its
    patch projection as input embeddings) have no such matrix: nothing is frozen there."""
    try:
        embeddings = model.get_input_embeddings()
    except (AttributeError, NotImplementedError):
        return
    if isinstance(embeddings, nn.Embedding):
        embeddings.weight.requires_grad_(False)


def freeze_backbone(model: nn.Module, trainable_top_layers: int = 0) -> None:
    """Freeze the pretrained backbone; the task head (everything outside it) stays trainable."""
    backbone = model.base_model
    for parameter in backbone.parameters():
        parameter.requires_grad_(False)
    keep_batchnorm_statistics(backbone)
    if trainable_top_layers:
        layers = transformer_layers(backbone)
        if trainable_top_layers > len(layers):
            raise ConfigError(f"freeze.layers={trainable_top_layers} but the model has only {len(layers)} layers")
        for layer in layers[len(layers) - trainable_top_layers:]:
            for parameter in layer.parameters():
                parameter.requires_grad_(True)


def keep_batchnorm_statistics(backbone: nn.Module) -> None:
    """A frozen BatchNorm (a CNN's) keeps normalising with its pretrained running statistics: in
    training mode it would normalise each batch by that batch's own statistics and overwrite the
    running ones, so the frozen features would drift away from what the head learns on (and a LoRA
    adapter is saved without them: model/ would not be the model that was evaluated). Layers that
    train again (freeze.layers) get their training mode back, as their weights do."""
    for module in backbone.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and not any(p.requires_grad for p in module.parameters()):
            module.train = functools.partial(_frozen_train, module)  # a partial pickles; a bound method does not
            module.eval()


def _frozen_train(self, mode: bool = True):
    """Stand-in for nn.Module.train on a frozen BatchNorm: it stays in evaluation mode while its
    weights are frozen (the trainer turns training mode on at every step)."""
    trainable = any(parameter.requires_grad for parameter in self.parameters())
    return nn.Module.train(self, mode and trainable)


def transformer_layers(backbone: nn.Module) -> nn.ModuleList:
    """The stack of transformer blocks: the longest ModuleList in the backbone (encoder.layer for
    BERT, layers for Llama, h for GPT-2), found by shape rather than by a name per architecture."""
    lists = [module for module in backbone.modules() if isinstance(module, nn.ModuleList)]
    if not lists:
        raise ConfigError("method=freeze with freeze.layers>0: this model has no stack of layers to unfreeze")
    return max(lists, key=len)


def add_lora(model: nn.Module, cfg: Config, peft_task_type: str | None, head: tuple[str, ...] = ()) -> nn.Module:
    from peft import LoraConfig, get_peft_model

    from tailor.models.generation import quiet_loading

    quiet_loading()  # peft calls a transformers property that warns on every use, with nothing for users to do
    if peft_task_type == "CAUSAL_LM" and getattr(model.config, "is_encoder_decoder", False):
        peft_task_type = "SEQ_2_SEQ_LM"  # a task that writes text, on an encoder-decoder (seq2seq with T5)
    lora = LoraConfig(task_type=peft_task_type, r=cfg.lora.r, lora_alpha=cfg.lora.alpha,
                      lora_dropout=cfg.lora.dropout, target_modules=cfg.lora.targets,
                      modules_to_save=list(head) or None)
    try:
        return get_peft_model(model, lora)
    except ValueError as exc:  # e.g. target modules not found in the model
        if cfg.lora.targets in (None, "all-linear") and not _has_linear_layers(model, head):
            model_type = getattr(model.config, "model_type", type(model).__name__)
            raise ConfigError(f"method=lora adapts a model's linear layers (attention, MLP), and this {model_type} "
                              "model is a convolutional network with none outside its head; use method=full or "
                              "method=freeze, or name convolutions to adapt in lora.targets (e.g. "
                              "lora.targets=[_project_conv] for EfficientNet's 1x1 convolutions)") from exc
        raise ConfigError(f"lora: {exc}") from exc


def _has_linear_layers(model: nn.Module, head: tuple[str, ...]) -> bool:
    return any(isinstance(module, nn.Linear) and name.split(".")[0] not in head
               for name, module in model.named_modules())


def merge_saved_adapter(folder, rebuild) -> None:
    """Replace a LoRA adapter saved in `folder` by plain merged weights. The adapter is read back from
    the folder (which the trainer wrote after gathering every process's shards) onto `rebuild()`, the
    untrained model as the task builds it (same architecture and head), so this works however
    training was distributed."""
    from pathlib import Path

    from peft import PeftModel

    folder = Path(folder)
    if not (folder / "adapter_config.json").exists():
        return
    merged = merge_for_export(PeftModel.from_pretrained(rebuild(), folder))
    for name in ("adapter_config.json", "adapter_model.safetensors", "adapter_model.bin"):
        (folder / name).unlink(missing_ok=True)
    merged.save_pretrained(folder)


def merge_for_export(model: nn.Module) -> nn.Module:
    """A LoRA model is merged into plain weights so model/ loads with transformers alone."""
    if hasattr(model, "merge_and_unload"):
        with torch.no_grad():
            return model.merge_and_unload()
    return model
