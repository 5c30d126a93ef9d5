"""The public Python API: train, evaluate, predict. The CLI is a thin shell over these."""

from __future__ import annotations

import os
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
    from tailor.models.settings import apply_model_settings
    from tailor.tasks import fill_task_defaults, get_task
    from tailor.training.engine import fit

    cfg = config if isinstance(config, Config) else load_config(config, list(overrides))
    task = get_task(cfg.task)
    fill_task_defaults(cfg, task)
    run = RunDir(Path(cfg.output.dir))
    run.check_can_start(resume=resume, overwrite=overwrite)

    data = load_task_data(task, cfg)  # validate all input before touching the run folder
    source, tokenizer = _load_tokenizer(cfg)
    train_ds, train_fit = task.preprocess(data.train, tokenizer, cfg, data)
    eval_ds, eval_fit = task.preprocess(data.eval, tokenizer, cfg, data)
    notes = _tell_about_data(data, train_fit, eval_fit)
    from transformers import set_seed

    set_seed(cfg.train.seed)  # new weights (a classifier head, LoRA matrices) start the same in every run
    model = task.build_model(source.location, cfg, data, **source.load_kwargs(cfg.model.revision,
                                                                            cfg.model.trust_remote_code))
    apply_model_settings(model, cfg, task.cpu_attention)  # before LoRA, whose own dropout is lora.dropout
    model, trainable = apply_method(model, cfg, task.peft_task_type)
    say(f"model: {source.display}; {trainable}")
    run.prepare(resume=resume, overwrite=overwrite)  # only now: every check above can stop the run
    save_config(cfg, run.config)

    result, model = fit(model, tokenizer, train_ds, eval_ds, task, cfg, run.checkpoints, resume=resume)
    model = _save_model(task, model, tokenizer, run)

    say("evaluating the best checkpoint and the baselines ...")
    metrics = {
        "name": run.dir.name,
        "task": cfg.task,
        "model": cfg.model.name,
        "pipeline_tag": task.pipeline_tag,
        "eval_data": data.eval_source,
        "best_metric_name": cfg.eval.metric,
        **task.final_metrics(model, tokenizer, data, cfg, source.location),
        "train": {"steps": result.global_step, "runtime_s": round(result.runtime_s, 1),
                  "samples_per_s": round(result.samples_per_s, 2),
                  # rows differ in size between tasks (a packed chat row holds many examples): tokens compare
                  "tokens_per_s": round(result.samples_per_s * _mean_row_tokens(train_ds), 1),
                  "precision": result.precision,
                  "method": cfg.method, "trainable_parameters": trainable.trainable,
                  "total_parameters": trainable.total, "best_checkpoint": result.best_checkpoint},
        "data": {"train_file": str(cfg.data.train), "train_examples": len(data.train),
                 "eval_examples": len(data.eval), "labels": data.labels, "notes": notes,
                 "truncated_train": train_fit.count, "truncated_eval": eval_fit.count},
    }
    _write_outputs(run, metrics, result.history)
    return RunResult(run.dir, metrics)


def _mean_row_tokens(dataset) -> float:
    lengths = [len(ids) for ids in dataset["input_ids"]]
    return sum(lengths) / max(len(lengths), 1)


def _tell_about_data(data, train_fit, eval_fit) -> list[str]:
    """Print what the user should know about their data; returns the warnings, for metrics.json."""
    for line in data.info:
        say(line)
    notes = list(data.notes)
    notes += [m for m in (train_fit.message("training examples"), eval_fit.message("evaluation examples")) if m]
    for note in notes:
        warn(note)
    labels = f"; {len(data.labels)} labels" if data.labels else ""
    say(f"data: {len(data.train):,} training / {len(data.eval):,} evaluation examples ({data.eval_source}){labels}")
    return notes


def evaluate(run_dir: str | Path, data: str | Path, *, batch_size: int | None = None) -> dict:
    """Metrics of a trained run on another labelled file (same column names as in training)."""
    cfg, task, model, tokenizer = load_run(run_dir)
    examples = task.read_inputs(Path(data), cfg, split="test")
    known = set(getattr(model.config, "label2id", None) or {}) if "label" in examples.columns else set()
    for label, where in zip(examples.columns.get("label", []), examples.where):
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

    cfg, task, model, tokenizer = load_run(run_dir)
    if data is not None:
        examples = task.read_inputs(Path(data), cfg, with_targets=False)
    else:
        columns = {"text": list(texts or [])}
        _check_text_pairs(columns["text"], text_pairs, cfg.data.text_pair)
        if text_pairs:
            columns["text_pair"] = list(text_pairs)
        examples = Examples(Path("<command line>"), columns, [f"text {i + 1}" for i in range(len(columns["text"]))])
    answers = task.predict(model, tokenizer, examples, cfg, batch_size or cfg.eval.batch_size)
    for answer, text in zip(answers, examples.columns.get("text", [])):
        answer["text"] = text
    return answers


def _check_text_pairs(texts: list[str], pairs: list[str] | None, trained_pair_column: str | None) -> None:
    """A run trained on pairs answers pairs only (and one trained on single texts, single texts):
    the other kind would be read as something it never saw, and answered without complaint."""
    from tailor.errors import ConfigError

    if trained_pair_column and not pairs:
        raise ConfigError(f"this run was trained on text pairs (data.text_pair={trained_pair_column}); give a "
                          "second text for every --text with --text-pair")
    if pairs and not trained_pair_column:
        raise ConfigError("this run was trained on single texts (no data.text_pair); leave out --text-pair")
    if pairs and len(pairs) != len(texts):
        raise ConfigError(f"{len(texts)} --text but {len(pairs)} --text-pair; give one --text-pair per --text, "
                          "in the same order")


def check(config: str | Path | Config, overrides: list[str] = ()) -> dict:
    """Validate a config's data without training; a summary dict (see tailor.data.check)."""
    from tailor.data.check import check_data
    from tailor.tasks import fill_task_defaults, get_task

    cfg = config if isinstance(config, Config) else load_config(config, list(overrides))
    task = get_task(cfg.task)
    fill_task_defaults(cfg, task)
    _, tokenizer = _load_tokenizer(cfg)
    return check_data(task, cfg, tokenizer)


def export(run_dir: str | Path, out: str | Path, *, merge: bool = False, overwrite: bool = False) -> Path:
    """Copy a run's model out as a standalone folder. `merge` folds a LoRA adapter into the base
    weights: the result loads with plain transformers (no peft), chat template and generation
    config included."""
    import shutil

    from tailor.errors import RunError

    run = RunDir(Path(run_dir))
    model_dir = run.require_model()
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise RunError(f"{out} exists and is not empty; choose another --out or pass --overwrite")
    out.parent.mkdir(parents=True, exist_ok=True)
    adapter = (model_dir / "adapter_config.json").exists()
    if not (merge and adapter):
        save_folder_atomically(out, lambda folder: shutil.copytree(model_dir, folder))
        if adapter:
            warn("this run holds a LoRA adapter: the copy needs its base model (and peft) to load; "
                 "--merge writes a standalone model")
        return out
    from tailor.models.generation import load_causal_lm
    from tailor.models.methods import merge_for_export

    import transformers

    model = merge_for_export(load_causal_lm(model_dir))
    tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir)

    def write(folder: Path) -> None:
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        model.generation_config.save_pretrained(folder)
        if (model_dir / "README.md").exists():
            shutil.copy(model_dir / "README.md", folder / "README.md")

    save_folder_atomically(out, write)
    return out


def load_run(run_dir: str | Path):
    """(config, task, model, tokenizer) of a finished run, loaded from model/ with plain transformers."""
    import transformers

    from tailor.tasks import get_task

    run = RunDir(Path(run_dir))
    model_dir = run.require_model()
    transformers.utils.logging.disable_progress_bar()  # a per-tensor "Loading weights" bar is noise here
    cfg = load_config(run.config)
    task = get_task(cfg.task)
    model = task.load_model(model_dir)
    tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir)
    return cfg, task, model, tokenizer


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


def _save_model(task, model, tokenizer, run: RunDir):
    """Write model/ atomically, as the task saves it; returns the model that was saved."""
    saved = []
    save_folder_atomically(run.model, lambda folder: saved.append(task.save_model(model, tokenizer, folder)))
    return saved[0]


def _write_outputs(run: RunDir, metrics: dict, history: list[dict]) -> None:
    from tailor.evaluation.report import model_card, write_report

    atomic_write_json(run.metrics, metrics)
    atomic_write_json(run.history, history)
    atomic_write_text(run.model / "README.md", model_card(metrics, run.config.read_text(encoding="utf-8")))
    write_report(run.report, metrics, history)
