"""A memory-lean causal-LM loss: logits only where there is a target, a chunk at a time.

The stock loss computes logits for every position of the batch (batch x length x vocabulary, in
fp32 for the loss: 49,152 x 4 bytes per token for SmolLM2) and keeps them for the backward pass.
Here the output head runs only on the positions whose next token is trained (the assistant's
tokens: a minority in chat data), in chunks whose logits are recomputed during the backward pass
instead of stored (activation checkpointing). Peak memory for the loss is one chunk's logits.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from tailor.data.chat_tokens import IGNORE
from tailor.training.losses import per_target

# A chunk's logits, in bf16 and fp32 with their gradients: ~12 bytes x 49,152 x 256 = 150 MB for
# SmolLM2; 1,024 tokens (600 MB) were no faster (benchmarks/chat_vs_trl.py, issue 17).
CHUNK_TOKENS = 256


def causal_lm(model):
    """The *ForCausalLM module under a DDP and/or peft wrapper (LoRA layers live inside it, so they
    still run)."""
    model = getattr(model, "module", model)  # DistributedDataParallel
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def lean_causal_lm_loss(model, inputs: dict, num_items_in_batch=None, chunk_tokens: int = CHUNK_TOKENS):
    """Sum of next-token cross-entropies over trained positions, divided by `num_items_in_batch`
    (all trained tokens of the accumulated batch, so gradient accumulation weighs tokens equally)
    or by this batch's own count."""
    hidden = _final_hidden_states(model, {k: v for k, v in inputs.items() if k != "labels"})
    targets = inputs["labels"][:, 1:]
    keep = targets != IGNORE
    hidden, targets = hidden[:, :-1][keep], targets[keep]
    head = causal_lm(model).get_output_embeddings()
    total = hidden.new_zeros((), dtype=torch.float32)
    for start in range(0, targets.numel(), chunk_tokens):
        piece = slice(start, start + chunk_tokens)
        total = total + checkpoint(_chunk_loss, head, hidden[piece], targets[piece], use_reentrant=False)
    return per_target(total, num_items_in_batch, keep)


def _final_hidden_states(model, model_inputs: dict) -> torch.Tensor:
    """The decoder's last hidden states, taken from a forward pass of the whole (possibly wrapped)
    model: under DDP the pass must go through the wrapper, which prepares the gradient sync."""
    captured = []
    decoder = causal_lm(model).base_model
    handle = decoder.register_forward_hook(lambda module, args, output: captured.append(output.last_hidden_state))
    try:
        # No KV cache: with one, transformers skips the packed-sequence mask and examples packed
        # into a row would attend to each other (the packing test catches this).
        model(**model_inputs, use_cache=False, **_one_logit(causal_lm(model), model_inputs["input_ids"]))
    finally:
        handle.remove()
    return captured[-1]


def _one_logit(lm, input_ids: torch.Tensor) -> dict:
    """Have the model's own head compute one position per row instead of all, where its forward
    takes `logits_to_keep` (transformers' own LMs do). The position goes as an index, not the count
    1: with a count the head gets a strided slice, which matmul multiplies by expanding the head's
    weight for every row (4 x 576 x 49,152 copied for SmolLM2: 230 ms and 230 MB a step)."""
    import inspect

    if "logits_to_keep" not in inspect.signature(lm.forward).parameters:
        return {}
    return {"logits_to_keep": torch.tensor([input_ids.shape[1] - 1], device=input_ids.device)}


def _chunk_loss(head, hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(head(hidden).float(), targets, reduction="sum")
