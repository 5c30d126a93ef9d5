"""Text regression: one number per text or text pair (a rating, a score, a similarity, a price).

The model learns standardised targets, (y - mean) / std with the training split's mean and standard
deviation, whatever the user's units: a new head starts near that scale and one learning rate fits
every data set. The loss rescales the outputs it hands the in-loop metrics, and the saved model has
the scale folded into its output layer (models/head.py), so it answers in the user's units wherever
it runs: tailor predict and serve, an ONNX export, a plain transformers pipeline. Scores: RMSE (the
default eval.metric, lower is better), MAE, MSE, Pearson, Spearman, beside the training mean and
TF-IDF + ridge regression.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np
from pydantic import Field as Option

from tailor.config import Config, TaskOptions
from tailor.data.examples import Examples
from tailor.data.loading import TaskData, read_columns
from tailor.models.catalog import DEFAULT_LR_ROWS
from tailor.tasks.base import Encoded, Field, Metric, TokenizedText


class TextRegressionOptions(TaskOptions):
    classical_baseline: bool = Option(True, description="also fit TF-IDF + ridge regression, the bar a "
                                                        "fine-tuned model has to clear")


class TextRegression(TokenizedText):
    name: ClassVar[str] = "text-regression"
    summary: ClassVar[str] = "one number per text or text pair: a rating, a score, a similarity (STS)"
    default_model: ClassVar[str] = "minilm"
    Options: ClassVar = TextRegressionOptions
    metrics: ClassVar = (Metric("rmse", greater_is_better=False), Metric("mae", greater_is_better=False),
                         Metric("mse", greater_is_better=False, headline=False), Metric("pearson"),
                         Metric("spearman"))
    targets: ClassVar[str] = "numbers"
    processor_kind: ClassVar[str] = "tokenizer"
    columns: ClassVar = ("text", "text_pair", "label")
    pipeline_tag: ClassVar[str] = "text-classification"
    pipeline_input: ClassVar[str] = '"your text here", function_to_apply="none"'  # the raw output is the number
    peft_task_type: ClassVar[str] = "SEQ_CLS"
    export_formats: ClassVar[tuple[str, ...]] = ("hf", "onnx")
    lora_head: ClassVar[tuple] = ()
    # As text classification's (the same encoder and inputs); no dropout also because dropout shifts a
    # regression head's output variance between training and inference.
    defaults: ClassVar[dict] = {"method": "full", "data.max_length": 128, "train.batch_tokens": 1024,
                                "train.batch_size": 256, "train.gradient_checkpointing": False,
                                "model.dropout": 0.0, "eval.batch_size": 128, "train.epochs": 3}
    stratify_by: ClassVar[None] = None
    lr_reference_rows: ClassVar[int] = DEFAULT_LR_ROWS
    cpu_attention: ClassVar[str] = "eager"
    cpu_precision: ClassVar[None] = None

    def read(self, path: Path, cfg: Config, *, targets: bool = True, split: str = "train") -> Examples:
        fields = [Field("text", cfg.data.text, "data.text")]
        if cfg.data.text_pair:
            fields.append(Field("text_pair", cfg.data.text_pair, "data.text_pair"))
        if targets:
            fields.append(Field("label", cfg.data.label, "data.label", kind="number"))
        return read_columns(path, fields, cfg, split=split)

    def build_model(self, location: str, cfg: Config, data: TaskData, **load_kwargs):
        """An encoder with a one-output head that learns standardised targets. A model/ of an earlier
        regression run answers in its own units: its head is rescaled to this data's standard scale."""
        from transformers import AutoModelForSequenceClassification

        from tailor.evaluation.regression import target_scale
        from tailor.models.head import fold_decision
        from tailor.models.loading import quiet_load_report

        mean, std = target_scale(data.train.columns["label"])
        with quiet_load_report():  # "classifier MISSING" is expected: the head is new
            model = AutoModelForSequenceClassification.from_pretrained(
                location, num_labels=1, problem_type="regression", id2label={0: cfg.data.label},
                label2id={cfg.data.label: 0}, ignore_mismatched_sizes=True, **load_kwargs)
        if getattr(model.config, "target_std", None):  # (y - mean) / std = (y + (-mean)) / std
            fold_decision(model, np.array([-mean]), std)
        model.config.target_mean, model.config.target_std = mean, std
        return model

    def encode(self, examples: Examples, tokenizer, cfg: Config, labels: list[str] | None, *,
               training: bool = False) -> Encoded:
        """Tokenize without padding; targets stay in the user's units (the loss standardises them)."""
        from datasets import Dataset

        from tailor.data.tokenize import tokenize_truncating

        encoded, truncated = tokenize_truncating(tokenizer, examples.columns["text"], examples.get("text_pair"),
                                                 cfg.data.max_length)
        columns = dict(encoded)
        if labels is not None and "label" in examples.columns:
            columns["labels"] = [float(value) for value in examples.columns["label"]]
        return Encoded(Dataset.from_dict(columns), [len(ids) for ids in encoded["input_ids"]], truncated)

    def loss(self, cfg: Config, data: TaskData):
        from tailor.evaluation.regression import target_scale
        from tailor.training.losses import standardized_squared_error

        return standardized_squared_error(*target_scale(data.train.columns["label"]))

    def training_metrics(self, cfg: Config, labels: list[str]):
        from tailor.evaluation.regression import training_metrics

        return training_metrics()

    def finish_saved_model(self, folder: Path, model, processor, rebuild) -> None:
        """A LoRA adapter merged, then the standard scale folded into the output layer."""
        from tailor.models.methods import merge_saved_adapter

        merge_saved_adapter(folder, rebuild)
        saved = self.load_model(folder)
        self.to_user_units(saved)
        saved.save_pretrained(folder)

    def to_user_units(self, model) -> None:
        """y = std * z + mean, i.e. (z + mean / std) / (1 / std), folded into the output layer."""
        from tailor.models.head import fold_decision

        mean, std = model.config.target_mean, model.config.target_std
        fold_decision(model, np.array([mean / std]), 1 / std)

    def load_model(self, folder: Path, **load_kwargs):
        from transformers import AutoModelForSequenceClassification

        return AutoModelForSequenceClassification.from_pretrained(folder, **load_kwargs)

    def evaluate(self, model, tokenizer, examples: Examples, cfg: Config, batch_size: int) -> dict:
        from tailor.evaluation.regression import regression_metrics

        truth = np.asarray(examples.columns["label"], dtype=np.float64)
        return regression_metrics(truth, self.numbers(model, tokenizer, examples, cfg, batch_size),
                                  resamples=cfg.eval.bootstrap)

    def predict(self, model, tokenizer, examples: Examples, cfg: Config, batch_size: int) -> list[dict]:
        return [{"value": round(float(value), 6)} for value in self.numbers(model, tokenizer, examples, cfg, batch_size)]

    def numbers(self, model, tokenizer, examples: Examples, cfg: Config, batch_size: int) -> np.ndarray:
        """The model's answer for each example, in input order and the user's units."""
        from tailor.evaluation.regression import predicted_numbers

        encoded = self.encode(examples, tokenizer, cfg, labels=None)
        return predicted_numbers(model, encoded, self.collator(tokenizer, cfg), batch_size)

    def baselines(self, model, tokenizer, data: TaskData, cfg: Config, base_location: str) -> dict:
        from tailor.evaluation.regression import regression_baselines

        def answers(examples):
            return self.numbers(model, tokenizer, examples, cfg, cfg.eval.batch_size)

        return regression_baselines(data, classical=cfg.options.classical_baseline, tuned_numbers=answers)

    def check(self, data: TaskData, tokenizer, cfg: Config) -> dict:
        from tailor.data.check import text_report

        return text_report(data, tokenizer, cfg, numbers=True)

    def report_sections(self, metrics: dict) -> list[tuple[str, str]]:
        from tailor.evaluation.report import regression_sections

        return regression_sections(metrics)
