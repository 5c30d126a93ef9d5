"""Text classification: one label per text, or per pair of texts (sentiment, topic, intent, NLI)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np

from tailor.config import Config
from tailor.data.examples import Examples
from tailor.data.loading import TaskData, read_columns
from tailor.errors import DataError
from tailor.tasks.base import Field


class TextClassification:
    name: ClassVar[str] = "text-classification"
    summary: ClassVar[str] = "one label per text or text pair: sentiment, topic, intent, spam, NLI"
    default_model: ClassVar[str] = "minilm"
    auto_model: ClassVar[str] = "AutoModelForSequenceClassification"
    pipeline_tag: ClassVar[str] = "text-classification"
    peft_task_type: ClassVar[str] = "SEQ_CLS"
    # Batch 8: on a CPU, small batches reach a given accuracy soonest (more updates per second of
    # compute); measured on the tweets in benchmarks/ (time to 0.90: batch 8 90 s, 16 112 s, 32 147 s).
    # Dropout 0: on a CPU, drawing dropout's random masks costs ~20% of a MiniLM step (~7 ns per
    # element, 20 masks a step), and without it the curve also climbs sooner. Benchmark tweets, 3 seeds each,
    # time to 0.903: median 72 s (dropout 0) vs 106 s (0.1); best accuracy 0.906-0.919 vs 0.907-0.908.
    defaults: ClassVar[dict] = {"method": "full", "data.max_length": 128, "train.batch_size": 8,
                                "train.gradient_checkpointing": False, "model.dropout": 0.0,
                                "eval.metric": "f1_macro"}
    stratify_by: ClassVar[str] = "label"
    # Training step medians, MiniLM, bf16, batch 8, dropout 0: eager 85 ms vs sdpa 142 ms at 36
    # tokens, 231 vs 324 ms at 128 (torch's CPU flash-attention backward is slow at these sizes).
    cpu_attention: ClassVar[str] = "eager"
    training_loss: ClassVar = None  # the model's own cross-entropy

    def fields(self, cfg: Config) -> list[Field]:
        fields = [Field("text", cfg.data.text, "data.text")]
        if cfg.data.text_pair:
            fields.append(Field("text_pair", cfg.data.text_pair, "data.text_pair"))
        fields.append(Field("label", cfg.data.label, "data.label", kind="label"))
        return fields

    def read_inputs(self, path: Path, cfg: Config, *, with_targets: bool = True, split: str = "train") -> Examples:
        fields = [f for f in self.fields(cfg) if with_targets or f.kind != "label"]
        return read_columns(path, fields, cfg, split=split)

    def read_extras(self, cfg: Config) -> dict:
        return {}

    def fit_labels(self, train: Examples, evals: list[Examples], label_column: str = "label") -> list[str]:
        """The label set comes from the training data; an evaluation label never seen there is an error."""
        labels = sorted(set(train.columns["label"]), key=_label_order)
        if len(labels) < 2:
            raise DataError(train.path, f"every one of the {len(train)} rows has the label '{labels[0]}'",
                            "A classifier needs at least two classes; check data.label points at the label column",
                            field=label_column)
        known = set(labels)
        for examples in evals:
            for label, where in zip(examples.columns["label"], examples.where):
                if label not in known:
                    raise DataError(examples.path, f"label '{label}' never appears in the training data "
                                    f"(known: {', '.join(labels[:10])})", "Add training examples with this label "
                                    "or remove these rows", where=where, field=label_column)
        return labels

    def build_model(self, source: str, cfg: Config, data: TaskData, **load_kwargs):
        from transformers import AutoModelForSequenceClassification

        from tailor.models.loading import quiet_load_report

        labels = data.labels

        with quiet_load_report():  # "classifier MISSING" is expected: the head is new
            return AutoModelForSequenceClassification.from_pretrained(
                source,
                num_labels=len(labels),
                id2label=dict(enumerate(labels)),
                label2id={label: i for i, label in enumerate(labels)},
                # A model fine-tuned before on other labels gets a fresh head of the right size.
                ignore_mismatched_sizes=True,
                **load_kwargs,
            )

    def preprocess(self, examples: Examples, tokenizer, cfg: Config, data: TaskData | None = None):
        """Tokenize without padding (the collator pads each batch to its own longest row)."""
        from datasets import Dataset

        from tailor.data.tokenize import tokenize_truncating

        encoded, truncated = tokenize_truncating(tokenizer, examples.columns["text"],
                                                 examples.get("text_pair"), cfg.data.max_length)
        columns = dict(encoded)
        if data is not None and "label" in examples.columns:
            label2id = {label: i for i, label in enumerate(data.labels)}
            columns["labels"] = [label2id[label] for label in examples.columns["label"]]
        return Dataset.from_dict(columns), truncated

    def collator(self, tokenizer, cfg: Config):
        from transformers import DataCollatorWithPadding

        return DataCollatorWithPadding(tokenizer)

    def training_metrics(self, eval_pred) -> dict[str, float]:
        from tailor.evaluation.classification import summary_metrics

        logits, label_ids = eval_pred
        return summary_metrics(np.asarray(label_ids), np.asarray(logits).argmax(-1))

    def final_metrics(self, model, tokenizer, data: TaskData, cfg: Config, base_source: str) -> dict:
        """The fine-tuned model on the eval data, next to the majority class and (optionally)
        TF-IDF + logistic regression: the bars it has to clear."""
        from tailor.evaluation.classification import classical_baselines

        return {"eval": self.evaluate(model, tokenizer, data.eval, cfg, cfg.eval.batch_size),
                **classical_baselines(data, cfg)}

    def save_model(self, model, tokenizer, folder: Path):
        """LoRA is merged into plain weights, so model/ loads with transformers alone."""
        from tailor.models.methods import merge_for_export

        model = merge_for_export(model)
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        return model

    def load_model(self, folder: Path):
        from transformers import AutoModelForSequenceClassification

        return AutoModelForSequenceClassification.from_pretrained(folder)

    def evaluate(self, model, tokenizer, examples: Examples, cfg: Config, batch_size: int) -> dict:
        from tailor.evaluation.classification import classification_metrics

        probabilities = self.probabilities(model, tokenizer, examples, cfg, batch_size)
        labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
        label2id = {label: i for i, label in enumerate(labels)}
        truth = np.array([label2id[label] for label in examples.columns["label"]])
        return classification_metrics(truth, probabilities, labels)

    def predict(self, model, tokenizer, examples: Examples, cfg: Config, batch_size: int) -> list[dict]:
        probabilities = self.probabilities(model, tokenizer, examples, cfg, batch_size)
        names = [model.config.id2label[i] for i in range(model.config.num_labels)]
        answers = []
        for row in probabilities:
            best = int(row.argmax())
            answers.append({"label": names[best], "score": round(float(row[best]), 6),
                            "probabilities": {name: round(float(p), 6) for name, p in zip(names, row)}})
        return answers

    def probabilities(self, model, tokenizer, examples: Examples, cfg: Config, batch_size: int) -> np.ndarray:
        from tailor.training.inference import batched_forward

        dataset, _ = self.preprocess(examples, tokenizer, cfg)
        logits = batched_forward(model, tokenizer, dataset, batch_size, output="logits")
        shifted = np.exp(logits - logits.max(-1, keepdims=True))
        return shifted / shifted.sum(-1, keepdims=True)


def _label_order(label: str):
    """Integer-like labels sort numerically (2 before 10); others alphabetically, after numbers."""
    try:
        return (0, int(label), "")
    except ValueError:
        return (1, 0, label)
