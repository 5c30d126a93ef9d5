"""tailor through its Python API, with its defaults. The benchmark fixes only what it must: the data,
no early stopping (every contender trains the same epochs) and the run folder; in the curve view
also evaluation every N samples and no TF-IDF baseline (it runs after training: no point on the
curve moves). The final view keeps the baseline: a user waits for it.
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
if args.eval_every:  # the time-to-accuracy view: evaluations every N samples, as for the others
    base["eval"] = {"strategy": "steps"}
else:  # the user's view: tailor's defaults, one evaluation per epoch, the TF-IDF baseline too
    del base["eval"], base["text_classification"]
cfg = resolve_config(load_config(None, overrides=list(args.set), base=base), get_task("text-classification"))
if args.eval_every:  # every N samples: N / the rows of a step (their mean, for token-budget batches)
    rows = common.mean_rows(cfg, args.train) if cfg.train.batch_tokens else cfg.train.batch_size
    cfg.eval.steps = common.eval_steps(args.eval_every, rows * cfg.train.grad_accum)
result = train(cfg, overwrite=True)

# tailor's own history: every log entry carries elapsed_s, seconds since Trainer.train began.
history = json.loads((result.dir / "history.json").read_text(encoding="utf-8"))
curve = [{"step": h["step"], "elapsed_s": h["elapsed_s"], "accuracy": h["eval_accuracy"],
          "eval_runtime_s": h["eval_runtime"]} for h in history if "eval_accuracy" in h]
train_end_s = next(h["elapsed_s"] for h in reversed(history) if "train_runtime" in h)
t = cfg.train
common.report("tailor", curve, train_end_s,
              {"batching": result.metrics["train"]["batching"],
               "padding": "rows of one length" if cfg.train.batch_tokens else "dynamic, group_by_length",
               "max_length": cfg.data.max_length, "precision": result.metrics["train"]["precision"],
               "eval_steps": cfg.eval.steps, "overrides": list(args.set),
               "final_eval_accuracy": result.metrics["eval"]["accuracy"]})
