"""Task registry: one file per task behind the Task protocol; the registry maps names to them.

Entries are import strings so that `tailor --help` and config validation do not import torch.
Adding a task = one new file + one line here + its tests (tests/test_every_task.py runs over all).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tailor.config import Config
    from tailor.tasks.base import Task

TASKS: dict[str, str] = {
    "text-classification": "tailor.tasks.text_classification:TextClassification",
    "token-classification": "tailor.tasks.token_classification:TokenClassification",
    "chat": "tailor.tasks.chat:Chat",
    "image-classification": "tailor.tasks.image_classification:ImageClassification",
    "text-regression": "tailor.tasks.text_regression:TextRegression",
    "relation-extraction": "tailor.tasks.relation_extraction:RelationExtraction",
    "question-answering": "tailor.tasks.question_answering:QuestionAnswering",
    "multi-task": "tailor.tasks.multi_task:MultiTask",
    "seq2seq": "tailor.tasks.seq2seq:Seq2Seq",
}


def task_class(name: str) -> type["Task"]:
    module_name, _, class_name = TASKS[name].partition(":")
    return getattr(importlib.import_module(module_name), class_name)


def get_task(name: str) -> "Task":
    return task_class(name)()


def resolve_config(cfg: "Config", task: "Task") -> "Config":
    """A copy of the config with what it leaves open (None) decided by the task, then the model;
    the caller's object is untouched (a loop of runs starts each from the same config), and the
    filled-in copy is what config.yaml in the run folder records."""
    from tailor.models.catalog import default_lr
    from tailor.tasks.base import metric_named

    cfg = cfg.model_copy(deep=True)
    cfg.model.name = cfg.model.name or task.default_model
    lm_backbone = _reads_with_an_lm(cfg, task)
    if lm_backbone and cfg.method is None:
        cfg.method = "lora"
    if lm_backbone and "explain_examples" not in cfg.eval.model_fields_set:
        # integrated gradients push 50 interpolations of each example through all of the LM: minutes
        # on a CPU for four rows of a report, so asked for, not done by default
        cfg.eval.explain_examples = 0
    if cfg.train.batch_tokens is None and cfg.train.batch_size is None:
        # A row count the user chose means fixed batches of that many rows; otherwise the task's
        # token budget, if it has one (its default batch_size is then the cap on rows).
        cfg.train.batch_tokens = task.defaults.get("train.batch_tokens")
    for dotted, value in task.defaults.items():
        if dotted in ("train.lr", "train.batch_tokens"):
            continue  # decided above, or below with the method: LoRA has a rate of its own
        *sections, key = dotted.split(".")
        node = cfg
        for section in sections:
            node = getattr(node, section)
        if getattr(node, key) is None:
            setattr(node, key, value)
    cfg.eval.metric = cfg.eval.metric or task.metrics[0].name
    metric_named(task, cfg.eval.metric)  # an unknown metric stops here, not after training
    _check_class_keys(cfg, task)
    if cfg.train.lr is None:
        # A task's rate was measured with its default method: LoRA's rates and full (or freeze) tuning's
        # differ by an order of magnitude, so it applies only on the same side of that line.
        measured = (cfg.method == "lora") == (task.defaults.get("method") == "lora")
        cfg.train.lr = default_lr(cfg.model.name, cfg.method, task.defaults.get("train.lr") if measured else None)
        if cfg.train.batch_tokens and cfg.train.lr_reference_rows is None:
            cfg.train.lr_reference_rows = task.lr_reference_rows  # scaled to the batches' size once they are drawn
    return cfg


def _reads_with_an_lm(cfg: "Config", task: "Task") -> bool:
    """A causal LM (SmolLM2) as the backbone of a task that reads text into classes, tags, numbers or
    spans: its last hidden states feed a new head (transformers' Llama, Qwen ... ForSequenceClassification,
    ForTokenClassification, ForQuestionAnswering). LoRA is then the default method: its adapters and the
    head (kept training in full by peft's task types) learn from little data on a CPU, where all of a
    135M-parameter LM would be slow and overfit."""
    from tailor.models.resolve import is_decoder_lm

    reads_text = task.processor_kind == "tokenizer" and task.targets in ("classes", "tags", "numbers", "spans")
    return reads_text and task.defaults.get("method") != "lora" and is_decoder_lm(cfg.model.name)


def _check_class_keys(cfg: "Config", task: "Task") -> None:
    """Keys that shape learning or deciding over classes are refused, not ignored, by a task that does
    not have them: the loss and sampling keys need classes or tags (chat learns text); a threshold and
    a temperature act on one answer per input (text and image classification)."""
    from tailor.errors import ConfigError
    from tailor.tasks.base import HasLabels

    changed = lambda section, key, default: getattr(getattr(cfg, section), key) != default  # noqa: E731
    given = [f"{section}.{key}" for section, key, default in
             (("train", "class_weights", "none"), ("train", "loss", "ce"), ("data", "sampling", "none"))
             if changed(section, key, default)]
    if given and not isinstance(task, HasLabels):
        raise ConfigError(f"{' and '.join(given)}: for tasks that learn classes or tags (text, token and image "
                          f"classification); task {task.name} learns {task.targets}")
    if cfg.train.strategy == "few-shot" and "few_shot" not in task.Options.model_fields:
        raise ConfigError(f"train.strategy=few-shot: for text classification (a sentence encoder and a new head); "
                          f"task {task.name} trains the standard way")
    if cfg.train.strategy == "few-shot" and cfg.method not in ("full", "freeze"):
        raise ConfigError(f"train.strategy=few-shot trains the encoder in full (method full) or its top layers "
                          f"(method freeze with freeze.layers); method {cfg.method} is not supported with it")
    given = [f"eval.{key}" for key in ("threshold", "calibrate") if changed("eval", key, "none")]
    if given and task.targets != "classes":
        raise ConfigError(f"{' and '.join(given)}: for tasks that answer one class per input (text and image "
                          f"classification); task {task.name} learns {task.targets}")
