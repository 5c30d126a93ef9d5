"""`tailor train`: config -> data -> model -> engine -> run folder (model/, metrics.json, report).

Every process of a multi-process run (torchrun, accelerate launch) runs this; all of them read and
check the data and build the model, only the main process touches the run folder (see distributed.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from tailor.config import Config, load_config, save_config
from tailor.console import say, warn
from tailor.distributed import barrier, is_main_process, world_size
from tailor.io import atomic_write_json, atomic_write_text
from tailor.runs import RunDir
from tailor.evaluation.calibration import decision_lines
from tailor.training.decision import check_decision_settings, fit_decision, wants_decision
from tailor.verbs.common import load_processor, model_source, resolved


@dataclass
class RunResult:
    dir: Path
    metrics: dict  # empty on the processes other than the main one


def train(config: str | Path | Config, overrides: list[str] = (), *, resume: bool = False,
          overwrite: bool = False) -> RunResult:
    """Fine-tune as the config says; returns the run folder and its final metrics."""
    import transformers

    from tailor.data.loading import load_task_data

    transformers.utils.logging.disable_progress_bar()  # per-load and per-save bars; the training bar shows the run
    user_cfg = config if isinstance(config, Config) else load_config(config, list(overrides))
    cfg, task = resolved(user_cfg)
    run = RunDir(Path(cfg.output.dir))
    run.check_can_start(resume=resume, overwrite=overwrite)
    data = load_task_data(task, cfg)  # validate all input before touching the run folder
    trials = []
    if user_cfg.model.name == "auto" and cfg.model.name != task.default_model:  # the default cannot read the text
        from tailor.verbs.auto import model_by_trial

        cfg, trials = model_by_trial(user_cfg, task, cfg, run, len(data.train), resume=resume)
    return train_on(task, cfg, data, run, resume=resume, overwrite=overwrite, auto_trials=trials)


def train_on(task, cfg: Config, data, run: RunDir, *, resume: bool = False, overwrite: bool = False,
             callbacks: tuple = (), auto_trials: list = ()) -> RunResult:
    """Fine-tune on data already read and checked (a whole training file, or one fold of it) into `run`;
    `callbacks`: more transformers TrainerCallbacks (a search trial's pruning); `auto_trials`: the
    models `model: auto` tried before choosing this one."""
    check_decision_settings(cfg, data.labels)
    source = model_source(cfg)
    processor = load_processor(task, source, cfg)
    teacher = _teacher(task, cfg, data, processor)
    # (few-shot draws its own pairs from the texts, augmenting them there: its training set is read as is)
    train_set = task.encode(data.train, processor, cfg, data.labels, training=cfg.train.strategy != "few-shot")
    eval_set = task.encode(data.eval, processor, cfg, data.labels)
    notes = _tell_about_data(data, train_set.fit, eval_set.fit)
    model, trainable, rebuild = _build(task, source, cfg, data)
    say(f"model: {source.display}; {trainable}")
    if is_main_process():
        run.prepare(resume=resume, overwrite=overwrite)  # only now: every check above can stop the run
        save_config(cfg, run.config)
    barrier()

    if cfg.train.strategy == "few-shot":
        from tailor.training.few_shot import fit_few_shot, save_few_shot_model

        result = fit_few_shot(model, processor, data, cfg)
        save_few_shot_model(model, processor, run.model)
    else:
        from tailor.training.engine import fit, save_trained_model

        result = fit(model, processor, train_set, eval_set, task, cfg, data, run.checkpoints, resume=resume,
                     callbacks=callbacks, teacher=teacher)
        save_trained_model(result.trainer, run.model, finish=lambda folder: task.finish_saved_model(
            folder, result.trainer.model, processor, rebuild))
    # The tuned weights are on disk: free them (and the optimizer) before model/ is loaded back to be
    # scored, instead of holding two models at once.
    del model
    result.release_trainer()
    alone = None
    if teacher is not None and cfg.distill.compare:  # every process trains it, as it trained this one
        from tailor.verbs.distill import train_student_alone

        alone = train_student_alone(task, cfg, data, run)
    from tailor.tasks.base import HasAloneComparison, HasEvalFit

    compared = task.train_alone(cfg, data, run) if isinstance(task, HasAloneComparison) else None
    if not is_main_process():
        return RunResult(run.dir, {})

    decision = None
    if wants_decision(cfg):
        say("fitting the decision threshold / temperature on the evaluation split ...")
        decision = fit_decision(task, processor, data, cfg, run.model)
    elif isinstance(task, HasEvalFit):
        decision = task.fit_on_eval(processor, data, cfg, run.model)
    say("evaluating the saved model and the baselines ...")
    metrics = _final_metrics(task, processor, data, cfg, source, run, result, trainable, notes, train_set)
    if decision:
        metrics["decision"] = decision
        for line in decision.get("lines") or decision_lines(decision):
            say(line)
    from tailor.tasks.base import HasClassicalModel

    if cfg.model.auto and isinstance(task, HasClassicalModel):
        from tailor.verbs.auto import keep_the_better

        metrics = keep_the_better(task, cfg, data, run, metrics)
    if auto_trials:
        metrics["auto"] = {**metrics.get("auto", {}), "trials": list(auto_trials)}
    if teacher is not None:
        from tailor.verbs.distill import distillation_comparison

        metrics["distillation"] = distillation_comparison(task, cfg, data, run, processor, teacher, alone)
    if compared:
        metrics["alone"] = compared
    from tailor.evaluation.honesty import honesty_warnings, split_overlaps
    from tailor.tasks.base import HasOwnWarnings

    # What would make a careful reader distrust the numbers (the CLI prints them under its table).
    metrics["warnings"] = (task.honesty_warnings(metrics, data) if isinstance(task, HasOwnWarnings)
                           else honesty_warnings(metrics, split_overlaps(data)))
    _write_outputs(run, metrics, result.history)
    return RunResult(run.dir, metrics)


def _build(task, source, cfg: Config, data):
    """The model as it trains (settings and method applied) and a way to build it again untrained."""
    from transformers import set_seed

    from tailor.models.methods import apply_method
    from tailor.models.settings import apply_model_settings

    kwargs = source.load_kwargs(cfg.model.revision, cfg.model.trust_remote_code)

    def rebuild():
        set_seed(cfg.train.seed)  # new weights (a task head, LoRA matrices) start the same in every run
        model = task.build_model(source.location, cfg, data, **kwargs)
        if cfg.distill.student_layers:
            from tailor.exports.pruning import keep_bottom_layers

            keep_bottom_layers(model, cfg.distill.student_layers, "distill.student_layers")
        return model

    model = rebuild()
    apply_model_settings(model, cfg, task.cpu_attention)  # before LoRA, whose own dropout is lora.dropout
    model, trainable = apply_method(model, cfg, task)
    return model, trainable, rebuild


def _teacher(task, cfg: Config, data, processor):
    """distill.teacher loaded and checked against the data's labels and the model's inputs (or None)."""
    if not cfg.distill.teacher:
        return None
    from tailor.training.distillation import check_distillable, load_teacher

    check_distillable(task, cfg)
    return load_teacher(task, cfg, data.labels, processor)


def _final_metrics(task, processor, data, cfg: Config, source, run: RunDir, result, trainable, notes, train_set) -> dict:
    """The saved model, loaded back from model/, on the eval (and test) data, beside the baselines:
    what is scored is exactly what the user gets."""
    from tailor.tasks.base import HasBaselines, HasExplanations, HasSamples

    from tailor.verbs.common import on_device

    model = on_device(task.load_model(run.model, trust_remote_code=cfg.model.trust_remote_code))
    batch = cfg.eval.batch_size
    metrics = {
        "name": run.dir.name, "task": cfg.task, "model": cfg.model.name, "pipeline_tag": task.pipeline_tag,
        "eval_data": data.eval_source,
        # what picked the checkpoint: the evaluation loss where a task has no in-loop metrics
        "best_metric_name": cfg.eval.metric if task.training_metrics(cfg, data.labels) else "loss",
        "eval": task.evaluate(model, processor, data.eval, cfg, batch),
    }
    if isinstance(task, HasBaselines):
        metrics.update(task.baselines(model, processor, data, cfg, source.location))
    if data.test is not None:
        metrics["test"] = {"data": str(cfg.data.test), **task.evaluate(model, processor, data.test, cfg, batch)}
    if isinstance(task, HasSamples):
        metrics["samples"] = task.samples(model, processor, data, cfg, source.location)
    if isinstance(task, HasExplanations) and cfg.eval.explain_examples > 0:
        metrics["explained"] = _explained(task, model, processor, data.eval, cfg)
    processes = world_size()
    metrics["train"] = {
        "steps": result.global_step, "runtime_s": round(result.runtime_s, 1),
        "samples_per_s": round(result.samples_per_s, 2),
        # rows differ in size between tasks (a packed chat row holds many examples): tokens compare
        f"{train_set.unit}_per_s": round(result.samples_per_s * _mean(train_set.lengths), 1),
        "precision": result.precision, "method": cfg.method, "trainable_parameters": trainable.trainable,
        "total_parameters": trainable.total, "best_checkpoint": result.best_checkpoint,
        "processes": processes, "grad_accum": cfg.train.grad_accum, "strategy": cfg.train.strategy,
    }
    if result.batching is not None:  # the few-shot strategy batches pairs, not rows (see training/few_shot.py)
        metrics["train"].update(batching=result.batching.summary(), global_batch=round(result.batching.step_rows, 1))
    else:
        metrics["train"]["contrastive_pairs"] = result.pairs
    metrics["data"] = {"train_file": str(cfg.data.train), "train_examples": len(data.train),
                       "eval_examples": len(data.eval), "labels": data.labels, "notes": notes,
                       # truncated or dropped (classification, chat), or split into windows (tagging)
                       "train_examples_not_whole": train_set.fit.count}
    return metrics


def _explained(task, model, processor, examples, cfg: Config) -> list[dict]:
    """eval.explain_examples evaluation examples explained for the report, wrong answers among them."""
    from tailor.evaluation.explanations import pick_examples

    say(f"explaining {cfg.eval.explain_examples} evaluation examples for the report ...")
    truth, probabilities, _ = task.scored(model, processor, examples, cfg, cfg.eval.batch_size)
    rows = pick_examples(truth, probabilities, cfg.eval.explain_examples)
    return task.explain(model, processor, examples.subset(rows), cfg)


def _mean(values: list[int]) -> float:
    return sum(values) / max(len(values), 1)


def _tell_about_data(data, train_fit, eval_fit) -> list[str]:
    """Print what the user should know about their data; returns the warnings, for metrics.json."""
    for line in data.info:
        say(line)
    for fit, what in ((train_fit, "training examples"), (eval_fit, "evaluation examples")):
        line = fit.info(what) if hasattr(fit, "info") else None  # a plain fact, e.g. windows of long contexts
        if line:
            say(line)
    notes = list(data.notes)
    notes += [m for m in (train_fit.message("training examples"), eval_fit.message("evaluation examples")) if m]
    for note in notes:
        warn(note)
    labels = f"; {len(data.labels)} labels" if data.labels else ""
    say(f"data: {len(data.train):,} training / {len(data.eval):,} evaluation examples ({data.eval_source}){labels}")
    return notes


def _write_outputs(run: RunDir, metrics: dict, history: list[dict]) -> None:
    from tailor.evaluation.report import model_card, write_report
    from tailor.tasks import get_task
    from tailor.tasks.base import HasOwnUsage

    atomic_write_json(run.metrics, metrics)
    atomic_write_json(run.history, history)
    task = get_task(metrics["task"])
    config = run.model / "config.json"  # absent when model/ holds a LoRA adapter (chat)
    model_type = json.loads(config.read_text(encoding="utf-8")).get("model_type") if config.exists() else None
    from tailor.models.classical import KIND
    from tailor.verbs.auto import CLASSICAL_USAGE

    usage = CLASSICAL_USAGE if model_type == KIND else task.usage() if isinstance(task, HasOwnUsage) else None
    atomic_write_text(run.model / "README.md", model_card(metrics, run.config.read_text(encoding="utf-8"),
                                                          task.pipeline_input, model_type, usage))
    write_report(run.report, metrics, history, task)
