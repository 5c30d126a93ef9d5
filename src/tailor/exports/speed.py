"""How fast a model answers on this machine: latency of single inputs (p50, p95) and throughput at
a batch size, both on real held-out rows, after a warm-up."""

from __future__ import annotations

import statistics
import time

import numpy as np
import torch

LATENCY_ROWS = 64
THROUGHPUT_ROWS = 512
THROUGHPUT_PASSES = 3  # the median pass: this machine's speed drifts
WARM_UP = 3


def latency_ms(model, encoded, collate, rows: int = LATENCY_ROWS) -> dict:
    """p50 and p95 of one input at a time (batch 1), over the first `rows` held-out rows."""
    inputs = [_inputs(collate([encoded.dataset[i]])) for i in range(min(rows, len(encoded.lengths)))]
    model.eval()
    times = []
    with torch.inference_mode():
        for index, batch in enumerate(inputs[:WARM_UP] + inputs):
            started = time.perf_counter()
            model(**batch)
            if index >= WARM_UP:
                times.append(1000 * (time.perf_counter() - started))
    return {"p50": round(statistics.median(times), 2), "p95": round(float(np.percentile(times, 95)), 2)}


def rows_per_second(model, encoded, collate, batch_size: int, rows: int = THROUGHPUT_ROWS) -> float:
    """Held-out rows a second at `batch_size`, batches in length order as tailor evaluates; the
    median of THROUGHPUT_PASSES passes."""
    from tailor.training.inference import length_order

    order = length_order(encoded.lengths)[:rows]
    batches = [_inputs(collate([encoded.dataset[i] for i in order[start:start + batch_size]]))
               for start in range(0, len(order), batch_size)]
    model.eval()
    passes = []
    with torch.inference_mode():
        model(**batches[0])  # warm-up
        for _ in range(THROUGHPUT_PASSES):
            started = time.perf_counter()
            for batch in batches:
                model(**batch)
            passes.append(time.perf_counter() - started)
    return round(len(order) / statistics.median(passes), 1)


def _inputs(batch: dict) -> dict:
    return {name: value for name, value in batch.items() if name != "labels"}


class Measurer:
    """One model (PyTorch or ONNX) measured on held-out rows: the run's eval metric, size on disk,
    latency of one input and throughput at `batch_size`, all on this machine's CPU."""

    def __init__(self, task, cfg, processor, examples, batch_size: int):
        self.task, self.cfg, self.processor, self.examples, self.batch_size = task, cfg, processor, examples, batch_size
        self.encoded = task.encode(examples, processor, cfg, None)
        self.collate = task.collator(processor, cfg)

    def __call__(self, name: str, model, size: float) -> dict:
        from tailor.console import say

        say(f"measuring {name} ...")
        model = model.to("cpu") if hasattr(model, "to") else model
        score = self.task.evaluate(model, self.processor, self.examples, self.cfg, self.cfg.eval.batch_size)
        return {"variant": name, "size_mb": size, "latency_ms": latency_ms(model, self.encoded, self.collate),
                "rows_per_s": rows_per_second(model, self.encoded, self.collate, self.batch_size),
                "metric": round(score.get(self.cfg.eval.metric, float("nan")), 4)}


def size_mb(folder) -> float:
    """The weights' size on disk (safetensors files), in MiB."""
    from pathlib import Path

    return round(sum(p.stat().st_size for p in Path(folder).glob("*.safetensors")) / 2**20, 1)
