"""Text classification: one label per text, or per pair of texts (sentiment, topic, intent, NLI)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np
from pydantic import Field as Option

from tailor.config import Config, TaskOptions
from tailor.data.examples import Examples
from tailor.data.loading import TaskData, read_columns
from tailor.models.catalog import DEFAULT_LR_ROWS
from tailor.tasks.base import CLASS_METRICS, Encoded, Field, OneLabelPerInput


class TextClassificationOptions(TaskOptions):
    classical_baseline: bool = Option(True, description="also fit TF-IDF + logistic regression, the bar a "
                                                        "fine-tuned model has to clear")


class TextClassification(OneLabelPerInput):
    name: ClassVar[str] = "text-classification"
    summary: ClassVar[str] = "one label per text or text pair: sentiment, topic, intent, spam, NLI"
    default_model: ClassVar[str] = "minilm"
    Options: ClassVar = TextClassificationOptions
    metrics: ClassVar = CLASS_METRICS
    targets: ClassVar[str] = "classes"
    processor_kind: ClassVar[str] = "tokenizer"
    columns: ClassVar = ("text", "text_pair", "label")
    pipeline_tag: ClassVar[str] = "text-classification"
    pipeline_input: ClassVar[str] = '"your text here"'
    peft_task_type: ClassVar[str] = "SEQ_CLS"
    export_formats: ClassVar[tuple[str, ...]] = ("hf", "onnx")
    lora_head: ClassVar[tuple] = ()
    # Token-budget batches of 1,024 tokens (about 30 tweets a step; training/batching.py), lr scaled
    # from 5e-5 at 8 rows. Benchmark tweets (4,000, 2 epochs, one evaluation per epoch), seeds
    # 42/43/44: accuracy 0.905/0.911/0.907 in 107/85/91 s whole process, against 0.912/0.907/0.904
    # in 169/-/144 s at the former batch of 8; 2,048 tokens: 0.886 (seed 42), too few steps; 512:
    # 0.905 in 139 s.
    # Dropout 0: on a CPU, drawing dropout's random masks costs ~20% of a MiniLM step (~7 ns per
    # element, 20 masks a step), and without it the curve also climbs sooner. Benchmark tweets, 3 seeds each,
    # time to 0.903: median 72 s (dropout 0) vs 106 s (0.1); best accuracy 0.906-0.919 vs 0.907-0.908.
    defaults: ClassVar[dict] = {"method": "full", "data.max_length": 128, "train.batch_tokens": 1024,
                                "train.batch_size": 256,
                                "train.gradient_checkpointing": False, "model.dropout": 0.0,
                                "eval.batch_size": 128, "train.epochs": 3}
    stratify_by: ClassVar[str] = "label"
    lr_reference_rows: ClassVar[int] = DEFAULT_LR_ROWS
    # Training step medians, MiniLM, bf16, batch 8, dropout 0: eager 85 ms vs sdpa 142 ms at 36
    # tokens, 231 vs 324 ms at 128 (torch's CPU flash-attention backward is slow at these sizes).
    cpu_attention: ClassVar[str] = "eager"
    cpu_precision: ClassVar[None] = None

    def processor(self, location: str, cfg: Config, **load_kwargs):
        from tailor.models.processors import load_tokenizer

        return load_tokenizer(location, cfg, **load_kwargs)

    def fields(self, cfg: Config) -> list[Field]:
        fields = [Field("text", cfg.data.text, "data.text")]
        if cfg.data.text_pair:
            fields.append(Field("text_pair", cfg.data.text_pair, "data.text_pair"))
        fields.append(Field("label", cfg.data.label, "data.label", kind="label"))
        return fields

    def read(self, path: Path, cfg: Config, *, targets: bool = True, split: str = "train") -> Examples:
        fields = [f for f in self.fields(cfg) if targets or f.kind != "label"]
        return read_columns(path, fields, cfg, split=split)

    def build_model(self, location: str, cfg: Config, data: TaskData, **load_kwargs):
        from transformers import AutoModelForSequenceClassification

        from tailor.models.loading import with_new_head

        return with_new_head(AutoModelForSequenceClassification, location, data.labels, **load_kwargs)

    def encode(self, examples: Examples, tokenizer, cfg: Config, labels: list[str] | None, *,
               training: bool = False) -> Encoded:
        """Tokenize without padding (the collator pads each batch to its own longest row)."""
        from datasets import Dataset

        from tailor.data.tokenize import tokenize_truncating

        encoded, truncated = tokenize_truncating(tokenizer, examples.columns["text"],
                                                 examples.get("text_pair"), cfg.data.max_length)
        columns = dict(encoded)
        if labels is not None and "label" in examples.columns:
            label2id = {label: i for i, label in enumerate(labels)}
            columns["labels"] = [label2id[label] for label in examples.columns["label"]]
        return Encoded(Dataset.from_dict(columns), [len(ids) for ids in encoded["input_ids"]], truncated)

    def collator(self, tokenizer, cfg: Config):
        from transformers import DataCollatorWithPadding

        return DataCollatorWithPadding(tokenizer)

    def check(self, data: TaskData, tokenizer, cfg: Config) -> dict:
        from tailor.data.check import text_report

        return text_report(data, tokenizer, cfg)

    def report_sections(self, metrics: dict) -> list[tuple[str, str]]:
        from tailor.evaluation.report import class_sections

        return class_sections(metrics)

    def load_model(self, folder: Path, **load_kwargs):
        from transformers import AutoModelForSequenceClassification

        return AutoModelForSequenceClassification.from_pretrained(folder, **load_kwargs)
