"""Batched forward passes for evaluation and prediction: length-sorted batches, no wasted padding,
results handed over batch by batch so that memory stays flat however large the data."""

from __future__ import annotations

from typing import Callable, Iterator

import torch
from tqdm.auto import tqdm

from tailor.distributed import is_main_process


def length_order(lengths: list[int]) -> list[int]:
    """Indices that visit the rows from shortest to longest: batches of similar length pad little."""
    return sorted(range(len(lengths)), key=lambda i: lengths[i])


def device_batches(model, encoded, collate: Callable, batch_size: int) -> Iterator[tuple[list[int], dict]]:
    """(row indices, collated batch on the model's device) for batches of similar length, with
    gradients off; the model is put in eval mode."""
    dataset, order = encoded.dataset, length_order(encoded.lengths)
    # an ONNX stand-in (exports/onnx.py) has a device but no parameters
    device = getattr(model, "device", None) or next(model.parameters()).device
    model.eval()
    starts = range(0, len(order), batch_size)
    with torch.inference_mode():
        for start in tqdm(starts, desc="predicting", unit="batch", leave=False,
                          disable=len(starts) < 20 or not is_main_process()):
            chosen = order[start:start + batch_size]
            batch = collate([dataset[i] for i in chosen])
            yield chosen, {k: v.to(device) if hasattr(v, "to") else v for k, v in batch.items()}


def forward_batches(model, encoded, collate: Callable, batch_size: int) -> Iterator[tuple[list[int], dict, object]]:
    """(row indices, batch, model outputs): the model runs on everything in the batch but labels."""
    for rows, batch in device_batches(model, encoded, collate, batch_size):
        yield rows, batch, model(**{k: v for k, v in batch.items() if k != "labels"})
