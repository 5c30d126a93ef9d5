"""Batched forward passes for evaluation and prediction: length-sorted batches, no wasted padding."""

from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm


def length_order(input_ids: list[list[int]]) -> list[int]:
    """Indices that visit the rows from shortest to longest: batches of similar length pad little."""
    return sorted(range(len(input_ids)), key=lambda i: len(input_ids[i]))


def batched_forward(model, tokenizer, dataset, batch_size: int, output: str = "logits") -> np.ndarray:
    """Run the model over a tokenized dataset in batches of similar length; results in input order."""
    features = [{k: v for k, v in row.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
                for row in dataset]
    order = length_order([feature["input_ids"] for feature in features])
    device = next(model.parameters()).device
    results: list[np.ndarray | None] = [None] * len(features)
    model.eval()
    batches = range(0, len(order), batch_size)
    with torch.inference_mode():
        for start in tqdm(batches, desc="predicting", unit="batch", disable=len(batches) < 20, leave=False):
            chosen = order[start:start + batch_size]
            batch = tokenizer.pad([features[i] for i in chosen], return_tensors="pt")
            values = getattr(model(**{k: v.to(device) for k, v in batch.items()}), output)
            for i, value in zip(chosen, values.float().cpu().numpy()):
                results[i] = value
    return np.stack(results)
