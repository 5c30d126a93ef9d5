"""Losses a task can hand the engine. Each is (model, inputs, num_items_in_batch) -> (loss, outputs):
it returns the model's outputs too, so the in-loop metrics still see the logits.

Why not the model's own loss: it is a mean over each batch, and the trainer's bookkeeping around
it does not match (transformers multiplies a loss by the number of processes and skips the
division by accumulation steps whenever a model's forward takes **kwargs, as BERT's does). A sum
over the trained targets divided by `num_items_in_batch` (every target of every process and
accumulation step) weighs each target the same however the batch is split.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from tailor.data.examples import IGNORE


def class_loss(weights: list[float] | None = None, focal_gamma: float = 0.0):
    """The loss over classes (or tags): cross-entropy over every target that is not IGNORE (one per
    row for classification, one per trained token for tagging), each target weighted by its class's weight
    (train.class_weights), times (1 - p)^gamma for focal loss (train.loss=focal; Lin et al. 2017).
    Normalised by the count of targets, not the sum of their weights: every process and accumulation
    step then weighs the same, and weights with a mean of 1 over the training targets (as `auto`'s
    are) keep the loss on cross-entropy's scale."""

    def loss(model, inputs: dict, num_items_in_batch=None):
        labels = inputs["labels"]
        outputs = model(**{k: v for k, v in inputs.items() if k != "labels"})
        total = target_losses(outputs.logits, labels, weights, focal_gamma).sum()
        return per_target(total, num_items_in_batch, labels != IGNORE), outputs

    return loss


def standardized_squared_error(mean: float, std: float):
    """The loss of a model that answers a number: squared error against the standardised target,
    (y - mean) / std, summed over the rows. The outputs handed on are rescaled to the user's units, so the
    in-loop metrics (and the checkpoint they pick) read the numbers the user will see."""

    def loss(model, inputs: dict, num_items_in_batch=None):
        targets = (inputs["labels"].float() - mean) / std
        outputs = model(**{k: v for k, v in inputs.items() if k != "labels"})
        standardized = outputs.logits.float()[:, 0]
        total = (standardized - targets).pow(2).sum()
        outputs.logits = outputs.logits * std + mean
        return per_target(total, num_items_in_batch, torch.ones_like(targets, dtype=torch.bool)), outputs

    return loss


def span_loss():
    """The loss of extractive question answering: cross-entropy of the answer's start token and of its end
    token, averaged, summed over the rows (windows) and divided as every task loss here is (see the
    module docstring); a window without the answer points both at its first token. Pad positions are
    left out of the softmax (the model's own loss keeps them), so a row's loss does not depend on how
    long the other rows of its batch are."""

    def loss(model, inputs: dict, num_items_in_batch=None):
        starts, ends = inputs["start_positions"], inputs["end_positions"]
        outputs = model(**{k: v for k, v in inputs.items() if k not in ("start_positions", "end_positions")})
        padding = inputs["attention_mask"] == 0
        start_logits = outputs.start_logits.float().masked_fill(padding, -1e9)
        end_logits = outputs.end_logits.float().masked_fill(padding, -1e9)
        total = (F.cross_entropy(start_logits, starts, reduction="sum")
                 + F.cross_entropy(end_logits, ends, reduction="sum")) / 2
        return per_target(total, num_items_in_batch, torch.ones_like(starts, dtype=torch.bool)), outputs

    return loss


def multi_head_loss(heads: dict[str, tuple[str, float, tuple[float, float] | None]]):
    """Multi-task's loss (tasks/multi_task.py): `heads` maps each head to (what it learns, its scale a_head,
    its target scale (mean, std) for numbers). Sum over the rows of a_head x the row's loss, divided by
    the step's rows, which the trainer counts from the batch's one-per-row `labels`."""
    from tailor.models.shared_encoder import touch_every_weight

    def loss(model, inputs: dict, num_items_in_batch=None):
        groups = inputs["heads"]
        outputs = model(heads={name: {k: v for k, v in group.items() if k != "labels"}
                               for name, group in groups.items()})
        total = touch_every_weight(model)
        for name, group in groups.items():
            targets, scale, target_scale = heads[name]
            total = total + scale * row_losses(targets, outputs[name].logits, group["labels"], target_scale).sum()
        rows = inputs["labels"]
        return per_target(total, num_items_in_batch, torch.ones_like(rows, dtype=torch.bool)), None

    return loss


def row_losses(targets: str, logits: torch.Tensor, labels: torch.Tensor,
               target_scale: tuple[float, float] | None = None) -> torch.Tensor:
    """One loss per row: the cross-entropy of its class ("classes"), the mean cross-entropy of its trained
    tokens ("tags"; 0 for a row without any), the squared error of its standardised number ("numbers")."""
    logits = logits.float()
    if targets == "numbers":
        mean, std = target_scale
        return (logits[:, 0] - (labels.float() - mean) / std).pow(2)
    if targets == "classes":
        return F.cross_entropy(logits, labels, reduction="none")
    if targets == "tags":
        per_token = F.cross_entropy(logits.transpose(1, 2), labels, ignore_index=IGNORE, reduction="none")
        return per_token.sum(1) / (labels != IGNORE).sum(1).clamp(min=1)
    raise ValueError(f"no per-row loss for targets {targets!r}")


def sequence_loss(model, inputs: dict, num_items_in_batch=None):
    """An encoder-decoder's loss: the cross-entropy of every target token, summed and divided by the
    step's target tokens. The labels go in too: the model shifts them into its decoder's inputs."""
    outputs = model(**inputs, use_cache=False)  # no cache to fill in training (nor with recomputed activations)
    labels = inputs["labels"]
    total = F.cross_entropy(outputs.logits.flatten(0, 1).float(), labels.flatten(), ignore_index=IGNORE,
                            reduction="sum")
    return per_target(total, num_items_in_batch, labels != IGNORE)


def per_target(total: torch.Tensor, num_items_in_batch, trained: torch.Tensor) -> torch.Tensor:
    """A loss summed over targets, divided by `num_items_in_batch` (every target of every process and
    accumulation step, when the trainer counts them) or else by this batch's own (`trained`: a mask of
    the trained targets); at least 1."""
    count = num_items_in_batch if num_items_in_batch is not None else trained.sum()
    return total / torch.clamp(torch.as_tensor(count, device=total.device), min=1)


def target_losses(logits: torch.Tensor, labels: torch.Tensor, weights: list[float] | None = None,
                  focal_gamma: float = 0.0) -> torch.Tensor:
    """The loss of every target that is not IGNORE (flat), weighted and focused as class_loss says."""
    logits, labels = logits.reshape(-1, logits.shape[-1]).float(), labels.reshape(-1)
    kept = labels != IGNORE
    logits, labels = logits[kept], labels[kept]
    log_p = F.log_softmax(logits, dim=-1).gather(1, labels[:, None])[:, 0]
    losses = -log_p
    if focal_gamma:
        losses = losses * (1 - log_p.exp()).pow(focal_gamma)
    if weights is not None:
        losses = losses * torch.as_tensor(weights, dtype=losses.dtype, device=losses.device)[labels]
    return losses


def class_weights(setting, labels: list[str], targets: list[str]) -> list[float] | None:
    """train.class_weights as one weight per label (in the order of the model's outputs), or None.
    `targets`: every training target (a label per row, a tag per word), for `auto`: scikit-learn's
    'balanced' weights, n / (classes x count), over the classes present (an absent one, such as an
    I- tag no entity continues into, is never a target; it keeps 1)."""
    from tailor.errors import ConfigError

    if setting == "none":
        return None
    if setting == "auto":
        import numpy as np
        from sklearn.utils.class_weight import compute_class_weight

        present = [label for label in labels if label in set(targets)]
        balanced = compute_class_weight("balanced", classes=np.array(present), y=np.array(targets))
        by_label = dict(zip(present, balanced.tolist()))
        return [round(by_label.get(label, 1.0), 6) for label in labels]
    unknown = sorted(set(setting) - set(labels))
    if unknown:
        raise ConfigError(f"train.class_weights names {', '.join(repr(u) for u in unknown)}, not a label of the "
                          f"training data (its labels: {', '.join(labels)})")
    return [float(setting.get(label, 1.0)) for label in labels]
