"""One contender of the chat benchmark, in its own process (so its peak RSS is its own).

    python benchmarks/chat_contender.py trl    --train chats.jsonl --model DIR --out DIR
    python benchmarks/chat_contender.py tailor --train chats.jsonl --model DIR --out DIR

Both fine-tune the same model with the same LoRA config on the same conversations for one epoch.
TRL runs `SFTTrainer` with its defaults (SFTConfig(): batch 8, max_length 1024, no packing, loss on
every token, gradient checkpointing on, bf16 autocast); tailor runs `tailor.api.train` with its
chat defaults. The clock covers `Trainer.train` only (both use it), minus tailor's one end-of-epoch
evaluation (TRL evaluates nothing). Prints one line `BENCH_RESULT {json}` for chat_vs_trl.py.
"""

import common  # first: environment, process clock

import argparse
import json
import resource
import time
from pathlib import Path

LORA = {"r": 8, "alpha": 16, "dropout": 0.0, "targets": "all-linear"}  # tailor's chat default (dropout: peft's), given to both


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("contender", choices=["trl", "tailor"])
    parser.add_argument("--train", required=True)
    parser.add_argument("--eval", required=True, help="tailor only: its end-of-epoch evaluation (not timed)")
    parser.add_argument("--model", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--set", action="append", default=[], help="tailor only: a config override")
    return parser.parse_args()


def timed_train():
    """Wrap Trainer.train: start and end of training, whoever calls it."""
    from transformers import Trainer

    original = Trainer.train
    clock = {}

    def train(self, *args, **kwargs):
        clock["start"] = time.perf_counter()
        try:
            return original(self, *args, **kwargs)
        finally:
            clock["end"] = time.perf_counter()
            clock["steps"] = self.state.global_step

    Trainer.train = train
    return clock


def run_trl(args, clock) -> dict:
    from datasets import load_dataset
    from peft import LoraConfig
    from trl import SFTConfig, SFTTrainer

    data = load_dataset("json", data_files=args.train, split="train")
    config = SFTConfig(output_dir=args.out, num_train_epochs=1, save_strategy="no", report_to="none",
                       use_cpu=True, disable_tqdm=True)
    lora = LoraConfig(r=LORA["r"], lora_alpha=LORA["alpha"], lora_dropout=LORA["dropout"],
                      target_modules=LORA["targets"], task_type="CAUSAL_LM")
    trainer = SFTTrainer(model=args.model, args=config, train_dataset=data, peft_config=lora)
    trainer.train()
    return {"eval_s": 0.0, "settings": {k: getattr(config, k) for k in (
        "per_device_train_batch_size", "max_length", "packing", "padding_free", "gradient_checkpointing", "bf16",
        "assistant_only_loss", "learning_rate")}}


def run_tailor(args, clock) -> dict:
    from tailor.api import train
    from tailor.config import load_config

    base = {"task": "chat", "model": args.model,
            "data": {"train": str(Path(args.train).resolve()), "eval": str(Path(args.eval).resolve())},
            "lora": LORA, "train": {"epochs": 1, "early_stopping_patience": None},
            "chat": {"samples": 0}, "output": {"dir": args.out}}
    cfg = load_config(None, overrides=list(args.set), base=base)
    result = train(cfg, overwrite=True)
    history = json.loads((result.dir / "history.json").read_text())
    eval_s = sum(h.get("eval_runtime", 0.0) for h in history if "eval_loss" in h)
    resolved = load_config(result.dir / "config.yaml")
    return {"eval_s": eval_s, "settings": {
        "tokens a step": resolved.train.batch_tokens, "packed rows": _rows(result.metrics),
        "max_length": resolved.data.max_length,
        "packing": resolved.chat.packing, "train_on": resolved.chat.train_on,
        "gradient_checkpointing": resolved.train.gradient_checkpointing,
        "precision": result.metrics["train"]["precision"], "lr": resolved.train.lr}}


def _rows(metrics: dict) -> str:
    batching = metrics["train"]["batching"]
    if batching.get("batches") != "token budget":
        return f"{batching['rows']} a step"
    return f"{batching['rows_per_step']['mean']} a step (of up to {batching['tokens']} tokens)"


def main() -> None:
    args = parse()
    clock = timed_train()
    extra = (run_trl if args.contender == "trl" else run_tailor)(args, clock)
    result = {"name": args.contender, "setup_s": round(clock["start"] - common.PROCESS_START, 2),
              "train_s": round(clock["end"] - clock["start"] - extra["eval_s"], 2), "eval_s": round(extra["eval_s"], 2),
              "steps": clock["steps"], "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
              "settings": extra["settings"]}
    print(common.RESULT_PREFIX + json.dumps(result, default=str), flush=True)


if __name__ == "__main__":
    main()
