"""tailor through its Python API, with its defaults. The benchmark fixes only what it must: the data,
evaluation every N samples (and no early stopping, so every contender trains the same epochs), the
run folder, and no TF-IDF baseline (it runs after training, so it would not change the timings).
Extra `--set key=value` overrides (e.g. train.precision=fp32) come from run.py's --tailor-set.
"""

import common  # first: sets the environment and starts the process clock

import json
from pathlib import Path

from tailor.api import train
from tailor.config import load_config
from tailor.tasks import get_task, resolve_config

args = common.parse_args(__doc__)
common.install_probes()
base = {
    "task": "text-classification",
    "data": {"train": str(Path(args.train).resolve()), "eval": str(Path(args.eval).resolve()),
             "label": "sentiment", "max_length": args.max_length},
    "train": {"epochs": args.epochs, "early_stopping_patience": None, "seed": args.train_seed},
    "eval": {"strategy": "steps"},
    "text_classification": {"classical_baseline": False},
    "output": {"dir": str(Path(args.out).resolve())},
}
cfg = resolve_config(load_config(None, overrides=list(args.set), base=base), get_task("text-classification"))
# (batch size etc. as `tailor train` would pick them)
cfg.eval.steps = common.eval_steps(args.eval_every, cfg.train.batch_size * cfg.train.grad_accum)
result = train(cfg, overwrite=True)

# tailor's own history: every log entry carries elapsed_s, seconds since Trainer.train began.
history = json.loads((result.dir / "history.json").read_text(encoding="utf-8"))
curve = [{"step": h["step"], "elapsed_s": h["elapsed_s"], "accuracy": h["eval_accuracy"],
          "eval_runtime_s": h["eval_runtime"]} for h in history if "eval_accuracy" in h]
train_end_s = next(h["elapsed_s"] for h in reversed(history) if "train_runtime" in h)
t = cfg.train
common.report("tailor", curve, train_end_s,
              {"batch_size": t.batch_size, "lr": t.lr, "padding": "dynamic, group_by_length",
               "max_length": cfg.data.max_length, "precision": result.metrics["train"]["precision"],
               "eval_steps": cfg.eval.steps, "overrides": list(args.set),
               "final_eval_accuracy": result.metrics["eval"]["accuracy"]})
