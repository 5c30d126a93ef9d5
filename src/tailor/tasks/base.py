"""The Task protocol: what a task declares and does; the verbs and the engine do the rest.

A task says what it needs (its input processor, the kind of targets it learns, the data columns it
reads, its own config section `Options`, its metrics and their direction) and turns examples into
model inputs and model outputs into answers. Optional capabilities (data check, baselines, held-out
extras, report sections) are small protocols a task implements or not; the verbs test for them
with isinstance, so no task stubs what it does not have.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Protocol, runtime_checkable

from tailor.config import Config, TaskOptions
from tailor.data.examples import Examples
from tailor.data.loading import TaskData


@dataclass(frozen=True)
class Field:
    """One input field of an example: `role` inside tailor, `column` in the user's file.
    kind "text" must be non-empty text; "label" must be present (compared as a string); "number" a
    finite number (read from a number or a text); "value" keeps the value as the file has it (lists of
    tokens, spans)."""

    role: str
    column: str
    config_key: str
    kind: str = "text"
    required: bool = True


@dataclass(frozen=True)
class Metric:
    """A metric a task reports, under this name in metrics.json (`eval`, `baseline`, `test`)."""

    name: str
    greater_is_better: bool = True
    headline: bool = True  # shown in the end-of-run summary and the report's comparison table


# What every classifier of one label per input reports (text, image ...): macro F1 first, the default
# eval.metric, which a majority class cannot game on imbalanced data as it games accuracy.
CLASS_METRICS = (Metric("f1_macro"), Metric("accuracy"), Metric("precision_macro", headline=False),
                 Metric("recall_macro", headline=False), Metric("f1_weighted", headline=False),
                 Metric("roc_auc", headline=False))


@dataclass
class Encoded:
    """Model inputs of a set of examples: a dataset the collator batches, each row's length (for
    length-grouped batches and padding-free evaluation order), and what did not fit."""

    dataset: Any  # datasets.Dataset
    lengths: list[int]
    fit: Any  # has .count and .message(what) -> str | None
    extras: dict = field(default_factory=dict)  # what a task needs to map outputs back (e.g. word ids)
    unit: str = "tokens"  # what `lengths` counts; training speed is reported per second in this unit


# A loss that sees the data and the config: (model, inputs, num_items_in_batch) -> (loss, outputs).
# `outputs` holds the logits the in-loop metrics need (or None when the task has no such metrics).
LossFn = Callable[..., tuple[Any, Any]]


class Task(Protocol):
    name: ClassVar[str]
    summary: ClassVar[str]
    default_model: ClassVar[str]
    Options: ClassVar[type[TaskOptions]]  # the config section named after the task
    metrics: ClassVar[tuple[Metric, ...]]  # the first is the default eval.metric
    # What is learned and from what (shown by `tailor tasks`; what later practices check against):
    targets: ClassVar[str]  # "classes" | "tags" | "numbers" | "text" (later: "spans", ...)
    processor_kind: ClassVar[str]  # "tokenizer" | "image-processor" (later: "feature-extractor")
    columns: ClassVar[tuple[str, ...]]  # the data.* column keys this task reads
    # Settings of the shared sections that the config leaves open (None) and this task decides.
    defaults: ClassVar[dict[str, Any]]
    stratify_by: ClassVar[str | None]  # example role a held-out split keeps the proportions of
    # The rows a step the default learning rates were tuned at: under a token budget the engine
    # scales the rate from there to the step's rows (training/batching.py: scaled_lr). None: a row
    # is not an example (packed chat rows), and the rate is for the task's own token budget.
    lr_reference_rows: ClassVar[int | None]
    # The attention kernel measured fastest for this task's usual shapes when training on a CPU
    # (model.attention=auto); None keeps transformers' default.
    cpu_attention: ClassVar[str | None]
    # The precision measured best for this task's models when training on a CPU (train.precision=auto);
    # None: bf16 mixed precision where the CPU computes bf16 natively, else fp32.
    cpu_precision: ClassVar[str | None]
    pipeline_tag: ClassVar[str]  # the Hugging Face pipeline that serves the saved model
    pipeline_input: ClassVar[str]  # what that pipeline is called with, for the model card's usage line
    peft_task_type: ClassVar[str | None]  # None: peft has no task type for it (image models)
    # What `tailor export --format` writes for this task's runs ("hf": the folder transformers loads;
    # "onnx": a graph whose logits the task's own evaluate/predict read; "gguf": one llama.cpp file
    # for a causal LM; see exports/).
    export_formats: ClassVar[tuple[str, ...]]
    # Modules that train in full beside LoRA's adapters (the new task head), where peft's task type
    # does not keep them trainable already.
    lora_head: ClassVar[tuple[str, ...]]

    def processor(self, location: str, cfg: Config, **load_kwargs) -> Any:
        """What turns raw inputs into model inputs (a tokenizer for text tasks)."""

    def read(self, path: Path, cfg: Config, *, targets: bool = True, split: str = "train") -> Examples:
        """Validated examples from one file: with targets for training and `tailor eval`, without for
        `tailor predict`. `split` picks the split of a saved DatasetDict folder."""

    def build_model(self, location: str, cfg: Config, data: TaskData, **load_kwargs) -> Any: ...

    def encode(self, examples: Examples, processor, cfg: Config, labels: list[str] | None, *,
               training: bool = False) -> Encoded:
        """Model inputs (with targets when `labels` is given and the examples have them); `training`
        marks the training set (augmented where the task augments)."""

    def collator(self, processor, cfg: Config) -> Callable: ...

    def loss(self, cfg: Config, data: TaskData) -> LossFn | None:
        """A loss replacing the model's own (None keeps it); it returns the outputs too, so the
        in-loop metrics still see logits and pick the best checkpoint."""

    def training_metrics(self, cfg: Config, labels: list[str]) -> Callable | None:
        """compute_metrics for each evaluation during training (None: the eval loss decides)."""

    def finish_saved_model(self, folder: Path, model, processor, rebuild: Callable[[], Any]) -> None:
        """Called on the main process after the trainer saved model/ (gathered from every process):
        e.g. merge a LoRA adapter into `rebuild()`, a fresh copy of the model as built for training."""

    def load_model(self, folder: Path, **load_kwargs) -> Any:
        """The saved model/ folder (load_kwargs: trust_remote_code, as the config says)."""

    def evaluate(self, model, processor, examples: Examples, cfg: Config, batch_size: int) -> dict:
        """Metrics (names as in `metrics`), batch by batch: memory stays flat as the data grows."""

    def predict(self, model, processor, examples: Examples, cfg: Config, batch_size: int) -> list[dict]:
        """One plain dict per input (for the CLI, files and a server)."""


@runtime_checkable
class HasLabels(Protocol):
    """Tasks that learn a fixed set of classes or tags (tasks without it have an empty label set)."""

    def label_set(self, train: Examples, cfg: Config) -> list[str]:
        """The labels, from the training data, in the order of the model's outputs."""

    def check_labels(self, examples: Examples, labels: list[str], cfg: Config) -> None:
        """An evaluation label the model never learned is an error at its row, not a silent miss."""


@runtime_checkable
class HasBaselines(Protocol):
    def baselines(self, model, processor, data: TaskData, cfg: Config, base_location: str) -> dict:
        """metrics.json entries to compare the tuned model with (e.g. `baseline`), on the eval data."""


@runtime_checkable
class HasSamples(Protocol):
    def samples(self, model, processor, data: TaskData, cfg: Config, base_location: str) -> list[dict]:
        """Examples of answers worth showing in the report (e.g. base vs tuned on held-out prompts)."""


@runtime_checkable
class HasExtras(Protocol):
    def read_extras(self, cfg: Config) -> dict:
        """Other inputs the task's options name (e.g. held-out prompts), read before training starts."""


@runtime_checkable
class HasDataCheck(Protocol):
    def check(self, data: TaskData, processor, cfg: Config) -> dict:
        """`tailor data check`: a summary with `lines` to print and `warnings`."""


@runtime_checkable
class HasReportSections(Protocol):
    def report_sections(self, metrics: dict) -> list[tuple[str, str]]:
        """(title, html) sections of report.html beyond the shared ones (curves, comparison, notes)."""


@runtime_checkable
class HasStructuredInputs(Protocol):
    """Tasks whose input is more than a text (and its pair): a relation's text and entity pair, a
    question and its context. `tailor predict` reads them from --data files; a request to `tailor
    serve` gives one object per input with these keys."""

    input_keys: ClassVar[tuple[str, ...]]  # the keys an input object may have (data.* column names)

    def examples_from_inputs(self, items: list[dict], cfg: Config, source: str) -> Examples:
        """Inputs given directly, validated as rows of a file are (DataError names the input)."""


@runtime_checkable
class HasEvalFit(Protocol):
    def fit_on_eval(self, processor, data: TaskData, cfg: Config, model_dir: Path) -> dict | None:
        """After training, settings fitted on the evaluation split and saved into model/ (e.g. question
        answering's no-answer threshold): what was fitted, with `lines` to print (None: nothing to fit)."""


@runtime_checkable
class HasExplanations(Protocol):
    def explain(self, model, processor, examples: Examples, cfg: Config, *, steps: int = 50) -> list[dict]:
        """`tailor explain` and report.html: for each example, the answer and what in the input drove it
        (plain JSON-able dicts; evaluation/explanations.py). Classifiers only: the report picks the
        examples it explains from the task's `scored()`."""


@runtime_checkable
class HasOwnData(Protocol):
    """Tasks that read their data from their own section rather than data.train (multi-task: a file per
    head); data.train is then not required."""

    def load_data(self, cfg: Config) -> TaskData:
        """Every split, read and checked (DataError names the file, row and field)."""


@runtime_checkable
class HasOutputScale(Protocol):
    def to_user_units(self, model) -> None:
        """Fold what training standardised into the model's output layer, in place, so that the saved model
        answers in the data's units (text regression's target scale)."""


@runtime_checkable
class HasAloneComparison(Protocol):
    def train_alone(self, cfg: Config, data: TaskData, run) -> dict | None:
        """After training, on every process: what the run is compared with, trained the same way without
        what the task adds (multi-task: each head's task alone); its scores for metrics.json["alone"]."""


@runtime_checkable
class HasHeads(Protocol):
    """Tasks whose model answers through one of several heads (multi-task): each verb that answers works
    on one head, made a run folder of its own task."""

    def head_run(self, cfg: Config, run, name: str) -> Path:
        """The run folder of head `name` of this run (made on first use, remade after the run's model changed)."""


@runtime_checkable
class HasOwnWarnings(Protocol):
    def honesty_warnings(self, metrics: dict, data: TaskData) -> list[str]:
        """What would make a reader distrust the scores, where the shared check cannot see them (multi-task:
        each head judged as a run of its task); replaces evaluation/honesty.py's check of the run."""


@runtime_checkable
class HasClassicalModel(Protocol):
    def classical_model(self, data: TaskData, cfg: Config) -> Any:
        """A classical model fitted on the training data (models/classical.py), which `model: auto` keeps
        instead of the fine-tuned one where it scores better; the task's evaluate and predict take it."""


@runtime_checkable
class HasOwnUsage(Protocol):
    def usage(self) -> str:
        """The model card's "Use" snippet, where a transformers pipeline does not load the saved model."""


def headline_names(task: Task, scores: dict) -> list[str]:
    """The metrics a summary shows, in the task's order; a task made of parts (multi-task) reports each
    part's headline metrics as PART/metric, in the order of its parts."""
    return [m.name for m in task.metrics if m.headline and m.name in scores] + [k for k in scores if "/" in k]


def class_loss_for(cfg: Config, labels: list[str], targets: list[str]) -> LossFn:
    """The loss of a task that learns classes or tags, as train.class_weights and train.loss say;
    `targets`: every training target (a label per row, a tag per word), counted for `auto` weights."""
    from tailor.training.losses import class_loss, class_weights

    gamma = cfg.train.focal_gamma if cfg.train.loss == "focal" else 0.0
    return class_loss(class_weights(cfg.train.class_weights, labels, targets), gamma)


def metric_named(task: Task, name: str) -> Metric:
    """The task's metric of that name; `loss` (the eval loss every run has) is lower-is-better."""
    if name == "loss":
        return Metric("loss", greater_is_better=False)
    for metric in task.metrics:
        if metric.name == name:
            return metric
    from tailor.errors import ConfigError

    names = ", ".join([m.name for m in task.metrics] + ["loss"])
    raise ConfigError(f"eval.metric={name} is not a metric of task {task.name} (it has: {names})")


class TokenizedText:
    """What tasks that read text through a tokenizer share: the model's tokenizer, and batches padded
    to their own longest row (tokenized without padding, so no compute goes to pad tokens)."""

    def processor(self, location: str, cfg: Config, **load_kwargs) -> Any:
        from tailor.models.processors import load_tokenizer

        return load_tokenizer(location, cfg, **load_kwargs)

    def collator(self, tokenizer, cfg: Config) -> Callable:
        from transformers import DataCollatorWithPadding

        return DataCollatorWithPadding(tokenizer)


class OneLabelPerInput:
    """What a classifier of one label per input does the same way whatever its inputs are (text,
    image): classes from the training labels, cross-entropy, macro metrics in the loop, class
    probabilities batch by batch, a LoRA adapter merged on save. A task mixes it in and supplies
    read, processor, encode, collator, build_model and load_model."""

    def label_set(self, train: Examples, cfg: Config) -> list[str]:
        from tailor.data.examples import class_set

        return class_set(train, cfg)

    def check_labels(self, examples: Examples, labels: list[str], cfg: Config) -> None:
        from tailor.data.examples import check_known_classes

        check_known_classes(examples, labels, cfg)

    def loss(self, cfg: Config, data: TaskData):
        return class_loss_for(cfg, data.labels, data.train.columns["label"])

    def training_metrics(self, cfg: Config, labels: list[str]):
        from tailor.evaluation.classification import training_metrics

        return training_metrics()

    def finish_saved_model(self, folder: Path, model, processor, rebuild: Callable[[], Any]) -> None:
        """A LoRA run's adapter is merged into plain weights, so model/ loads with transformers alone."""
        from tailor.models.methods import merge_saved_adapter

        merge_saved_adapter(folder, rebuild)

    def evaluate(self, model, processor, examples: Examples, cfg: Config, batch_size: int) -> dict:
        from tailor.evaluation.classification import classification_metrics

        return classification_metrics(*self.scored(model, processor, examples, cfg, batch_size),
                                      resamples=cfg.eval.bootstrap)

    def predict(self, model, processor, examples: Examples, cfg: Config, batch_size: int) -> list[dict]:
        from tailor.evaluation.classification import class_answers, model_labels

        return class_answers(self.probabilities(model, processor, examples, cfg, batch_size), model_labels(model))

    def baselines(self, model, processor, data: TaskData, cfg: Config, base_location: str) -> dict:
        """The majority class and, where the task has one and it is on, a classical model (TF-IDF +
        logistic regression on texts): the bars to clear, each with a paired test against this model."""
        from tailor.evaluation.classification import classical_baselines

        def answers(examples):
            return self.probabilities(model, processor, examples, cfg, cfg.eval.batch_size).argmax(-1)

        tfidf = bool(getattr(cfg.options, "classical_baseline", False))
        return classical_baselines(data, tfidf=tfidf, seed=cfg.train.seed, tuned_answers=answers)

    def predict_uncertain(self, model, processor, examples: Examples, cfg: Config, batch_size: int,
                          samples: int) -> list[dict]:
        """predict's answers from Monte Carlo dropout: the label of the mean probabilities, those means,
        and each class's spread (standard deviation) over `samples` passes with dropout on."""
        from tailor.errors import ConfigError
        from tailor.evaluation.classification import (class_answers, dropout_rates, mc_dropout_probabilities,
                                                      model_labels)

        rates = dropout_rates(model)
        if not rates:
            raise ConfigError("--uncertainty mc-dropout: this model has no dropout layers with a rate above 0, so "
                              "every sample would give the same answer")
        encoded = self.encode(examples, processor, cfg, labels=None)
        mean, spread = mc_dropout_probabilities(model, encoded, self.collator(processor, cfg), batch_size, samples,
                                                seed=cfg.train.seed)
        names = model_labels(model)
        method = {"method": "mc-dropout", "samples": samples, "dropout": rates}
        return [{**answer, "spread": {name: round(float(s), 6) for name, s in zip(names, row)}, "uncertainty": method}
                for answer, row in zip(class_answers(mean, names), spread)]

    def scored(self, model, processor, examples: Examples, cfg: Config, batch_size: int, *, log: bool = False):
        """(true class ids, probabilities (`log`: log-probabilities), class names) of labelled examples."""
        import numpy as np

        from tailor.evaluation.classification import model_labels

        labels = model_labels(model)
        label2id = {label: i for i, label in enumerate(labels)}
        truth = np.array([label2id[label] for label in examples.columns["label"]])
        return truth, self.probabilities(model, processor, examples, cfg, batch_size, log=log), labels

    def probabilities(self, model, processor, examples: Examples, cfg: Config, batch_size: int, *, log: bool = False):
        """Class probabilities in input order (rows x classes: small, whatever the data size); `log`:
        log-probabilities."""
        from tailor.evaluation.classification import class_probabilities
        from tailor.models.classical import ClassicalTextModel

        if isinstance(model, ClassicalTextModel):  # a run whose TF-IDF model beat the fine-tuned one (model: auto)
            return model.probabilities(examples, log=log)
        encoded = self.encode(examples, processor, cfg, labels=None)
        return class_probabilities(model, encoded, self.collator(processor, cfg), batch_size, log=log)
