"""The public Python API: train, evaluate, predict. The CLI is a thin shell over these."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from tailor.config import Config, load_config, save_config
from tailor.console import say, warn
from tailor.errors import DataError
from tailor.io import atomic_write_json, atomic_write_text
from tailor.runs import RunDir, save_folder_atomically

# Set before transformers is imported anywhere: no telemetry, no hub calls for things we ship.
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@dataclass
class RunResult:
    dir: Path
    metrics: dict


def train(config: str | Path | Config, overrides: list[str] = (), *, resume: bool = False,
          overwrite: bool = False) -> RunResult:
    """Fine-tune as the config says; returns the run folder and its final metrics."""
    from tailor.data.loading import load_task_data
    from tailor.models.methods import apply_method
    from tailor.tasks import get_task
    from tailor.training.engine import fit

    cfg = config if isinstance(config, Config) else load_config(config, list(overrides))
    task = get_task(cfg.task)
    _fill_model_defaults(cfg, task)
    run = RunDir(Path(cfg.output.dir))

    data = load_task_data(task, cfg)  # validate all input before touching the run folder
    source, tokenizer = _load_tokenizer(cfg)
    run.prepare(resume=resume, overwrite=overwrite)
    save_config(cfg, run.config)
    for note in data.notes:
        warn(note)
    say(f"data: {len(data.train):,} training / {len(data.eval):,} evaluation examples ({data.eval_source}); "
        f"{len(data.labels)} labels")
    model = task.build_model(source.location, cfg, data.labels, **source.load_kwargs(cfg.model.revision,
                                                                                   cfg.model.trust_remote_code))
    model, trainable = apply_method(model, cfg, task.peft_task_type)
    say(f"model: {source.display}; {trainable}")

    label2id = {label: i for i, label in enumerate(data.labels)}
    train_ds, truncated = task.preprocess(data.train, tokenizer, cfg, label2id)
    eval_ds, eval_truncated = task.preprocess(data.eval, tokenizer, cfg, label2id)
    notes = list(data.notes)
    for message in (truncated.message("training texts"), eval_truncated.message("evaluation texts")):
        if message:
            warn(message)
            notes.append(message)

    result, model = fit(model, tokenizer, train_ds, eval_ds, task.collator(tokenizer), task.training_metrics, cfg,
                        run.checkpoints, resume=resume)
    model = _save_model(model, tokenizer, run)

    say("evaluating the best checkpoint and the baselines ...")
    metrics = {
        "name": run.dir.name,
        "task": cfg.task,
        "model": cfg.model.name,
        "pipeline_tag": task.name,
        "eval_data": data.eval_source,
        "best_metric_name": cfg.eval.metric,
        "eval": task.evaluate(model, tokenizer, data.eval, cfg, cfg.eval.batch_size),
        **_baselines(data, cfg),
        "train": {"steps": result.global_step, "runtime_s": round(result.runtime_s, 1),
                  "samples_per_s": round(result.samples_per_s, 2), "precision": result.precision,
                  "trainable_parameters": trainable.trainable, "total_parameters": trainable.total,
                  "best_checkpoint": result.best_checkpoint},
        "data": {"train_file": str(cfg.data.train), "train_examples": len(data.train),
                 "eval_examples": len(data.eval), "labels": data.labels, "notes": notes,
                 "truncated_train": truncated.count, "truncated_eval": eval_truncated.count},
    }
    _write_outputs(run, metrics, result.history)
    return RunResult(run.dir, metrics)


def evaluate(run_dir: str | Path, data: str | Path, *, batch_size: int | None = None) -> dict:
    """Metrics of a trained run on another labelled file (same column names as in training)."""
    from tailor.data.loading import read_examples

    cfg, task, model, tokenizer = load_run(run_dir)
    examples = read_examples(Path(data), task, cfg, split="test")
    known = set(model.config.label2id)
    for label, where in zip(examples.columns["label"], examples.where):
        if label not in known:
            raise DataError(examples.path, f"label '{label}' was never seen in training (the model knows: "
                            f"{', '.join(sorted(known)[:10])})", "Remove these rows or retrain with this label",
                            where=where, field=cfg.data.label)
    metrics = task.evaluate(model, tokenizer, examples, cfg, batch_size or cfg.eval.batch_size)
    metrics["data"] = str(data)
    return metrics


def predict(run_dir: str | Path, texts: list[str] | None = None, data: str | Path | None = None, *,
            text_pairs: list[str] | None = None, batch_size: int | None = None) -> list[dict]:
    """Answers of a trained run for new texts, or for every row of a file (labels not needed)."""
    from tailor.data.examples import Examples
    from tailor.data.loading import read_examples

    cfg, task, model, tokenizer = load_run(run_dir)
    if data is not None:
        examples = read_examples(Path(data), task, cfg, with_labels=False)
    else:
        columns = {"text": list(texts or [])}
        if text_pairs:
            columns["text_pair"] = list(text_pairs)
        examples = Examples(Path("<command line>"), columns, [f"text {i + 1}" for i in range(len(columns["text"]))])
    answers = task.predict(model, tokenizer, examples, cfg, batch_size or cfg.eval.batch_size)
    for answer, text in zip(answers, examples.columns["text"]):
        answer["text"] = text
    return answers


def check(config: str | Path | Config, overrides: list[str] = ()) -> dict:
    """Validate a config's data without training; a summary dict (see tailor.data.check)."""
    from tailor.data.check import check_data
    from tailor.tasks import get_task

    cfg = config if isinstance(config, Config) else load_config(config, list(overrides))
    task = get_task(cfg.task)
    _fill_model_defaults(cfg, task)
    _, tokenizer = _load_tokenizer(cfg)
    return check_data(task, cfg, tokenizer)


def load_run(run_dir: str | Path):
    """(config, task, model, tokenizer) of a finished run, loaded from model/ with plain transformers."""
    import transformers

    from tailor.tasks import get_task

    run = RunDir(Path(run_dir))
    model_dir = run.require_model()
    transformers.utils.logging.disable_progress_bar()  # a per-tensor "Loading weights" bar is noise here
    cfg = load_config(run.config)
    task = get_task(cfg.task)
    model = getattr(transformers, task.auto_model).from_pretrained(model_dir)
    tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir)
    return cfg, task, model, tokenizer


def _fill_model_defaults(cfg: Config, task) -> None:
    """What the config leaves open is decided by the task and the model (written to config.yaml)."""
    from tailor.models.catalog import default_lr

    cfg.model.name = cfg.model.name or task.default_model
    cfg.train.lr = cfg.train.lr or default_lr(cfg.model.name)


def _load_tokenizer(cfg: Config):
    from transformers import AutoTokenizer

    from tailor.models.resolve import resolve_model

    source = resolve_model(cfg.model.name)
    tokenizer = AutoTokenizer.from_pretrained(source.location, **source.load_kwargs(cfg.model.revision,
                                                                                    cfg.model.trust_remote_code))
    limit = getattr(tokenizer, "model_max_length", None)
    if limit and limit < cfg.data.max_length:
        warn(f"data.max_length={cfg.data.max_length} is more than the model accepts; using {limit}")
        cfg.data.max_length = limit
    return source, tokenizer


def _baselines(data, cfg: Config) -> dict:
    from tailor.evaluation.classification import majority_baseline, tfidf_baseline

    train_labels, eval_labels = data.train.columns["label"], data.eval.columns["label"]
    result = {"baseline": majority_baseline(train_labels, eval_labels, data.labels)}
    if cfg.eval.classical_baseline:
        started = time.perf_counter()
        result["classical_baseline"] = tfidf_baseline(_joined(data.train), train_labels, _joined(data.eval),
                                                      eval_labels, data.labels, cfg.train.seed)
        result["classical_baseline"]["runtime_s"] = round(time.perf_counter() - started, 1)
    return result


def _joined(examples) -> list[str]:
    pairs = examples.get("text_pair")
    texts = examples.columns["text"]
    return [f"{a} || {b or ''}" for a, b in zip(texts, pairs)] if pairs else texts


def _save_model(model, tokenizer, run: RunDir):
    """Write model/ (merged if LoRA) atomically; returns the model that was saved."""
    from tailor.models.methods import merge_for_export

    model = merge_for_export(model)

    def write(folder: Path) -> None:
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)

    save_folder_atomically(run.model, write)
    return model


def _write_outputs(run: RunDir, metrics: dict, history: list[dict]) -> None:
    from tailor.evaluation.report import model_card, write_report

    atomic_write_json(run.metrics, metrics)
    atomic_write_json(run.history, history)
    atomic_write_text(run.model / "README.md", model_card(metrics, run.config.read_text(encoding="utf-8")))
    write_report(run.report, metrics, history)
