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


def cross_entropy(model, inputs: dict, num_items_in_batch=None):
    """Cross-entropy over every target that is not IGNORE: one per row (classification) or one per
    trained token (tagging), normalised by the targets of the whole accumulated global batch."""
    labels = inputs["labels"]
    outputs = model(**{k: v for k, v in inputs.items() if k != "labels"})
    logits = outputs.logits
    total = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), labels.reshape(-1),
                            ignore_index=IGNORE, reduction="sum")
    count = num_items_in_batch if num_items_in_batch is not None else (labels != IGNORE).sum()
    return total / torch.clamp(torch.as_tensor(count, device=total.device), min=1), outputs
