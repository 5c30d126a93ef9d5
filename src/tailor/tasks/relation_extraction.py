"""Relation extraction: the relation between two entities of a text (works_for, born_in, ... or none).

Each row is a text with its pair marked (data/relations.py: the head and tail found by text or span,
shown to the model with typed entity markers), classified like a text. Scores as the field reports
them (TACRED, SemEval): precision, recall and F1 micro-averaged over the relations, the "no relation"
label left out (predicting it is abstaining), beside the per-relation table and the macro scores.
A text too long for data.max_length is cut around the pair, so both entities stay in.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
from pydantic import Field as Option

from tailor.config import Config, TaskOptions
from tailor.data.examples import Examples
from tailor.data.loading import TaskData
from tailor.models.catalog import DEFAULT_LR_ROWS
from tailor.tasks.base import CLASS_METRICS, Encoded, Metric, OneLabelPerInput, TokenizedText


class RelationExtractionOptions(TaskOptions):
    no_relation: str = Option("no_relation", description="the label that means the pair has none of the "
                                                         "relations: left out of the micro-averaged scores, as "
                                                         "TACRED and SemEval report them (a name that is not a "
                                                         "label leaves every label in)")
    ambiguous: Literal["error", "first"] = Option(
        "error", description="an entity given by its text that occurs more than once in the text: stop at its "
                             "row (give its span instead), or take the first occurrence")
    classical_baseline: bool = Option(True, description="also fit TF-IDF + logistic regression on the marked "
                                                        "texts, the bar a fine-tuned model has to clear")


class RelationExtraction(TokenizedText, OneLabelPerInput):
    name: ClassVar[str] = "relation-extraction"
    summary: ClassVar[str] = "the relation between two marked entities of a text: works_for, born_in, ... or none"
    default_model: ClassVar[str] = "minilm"
    Options: ClassVar = RelationExtractionOptions
    metrics: ClassVar = (Metric("f1"), Metric("precision"), Metric("recall"), *CLASS_METRICS)
    targets: ClassVar[str] = "classes"
    processor_kind: ClassVar[str] = "tokenizer"
    columns: ClassVar = ("text", "head", "tail", "head_type", "tail_type", "label")
    pipeline_tag: ClassVar[str] = "text-classification"
    pipeline_input: ClassVar[str] = '"@ * PER * Anna @ works at # ^ ORG ^ Acme #"'  # the pair marked as in training
    peft_task_type: ClassVar[str] = "SEQ_CLS"
    export_formats: ClassVar[tuple[str, ...]] = ("hf", "onnx")
    lora_head: ClassVar[tuple] = ()
    input_keys: ClassVar[tuple[str, ...]] = ("text", "head", "tail", "head_type", "tail_type")
    # Text classification's, with more epochs: relation data sets are small. On the project's 334
    # hand-written training pairs (examples/relation_extraction), MiniLM: test F1 0.844 after 5 epochs
    # (31 s whole process), 0.923 after 10, 0.914 after 15.
    defaults: ClassVar[dict] = {"method": "full", "data.max_length": 128, "train.batch_tokens": 1024,
                                "train.batch_size": 256, "train.gradient_checkpointing": False,
                                "model.dropout": 0.0, "eval.batch_size": 128, "train.epochs": 10}
    stratify_by: ClassVar[str] = "label"
    lr_reference_rows: ClassVar[int] = DEFAULT_LR_ROWS
    cpu_attention: ClassVar[str] = "eager"
    cpu_precision: ClassVar[None] = None

    def read(self, path: Path, cfg: Config, *, targets: bool = True, split: str = "train") -> Examples:
        from tailor.data.relations import read_relations

        return read_relations(path, cfg, targets=targets, split=split, ambiguous=cfg.options.ambiguous)

    def examples_from_inputs(self, items: list[dict], cfg: Config, source: str) -> Examples:
        from tailor.data.relations import relations_from_rows

        return relations_from_rows(items, cfg, source, cfg.options.ambiguous)

    def build_model(self, location: str, cfg: Config, data: TaskData, **load_kwargs):
        from transformers import AutoModelForSequenceClassification

        from tailor.models.loading import with_new_head

        return with_new_head(AutoModelForSequenceClassification, location, data.labels, **load_kwargs)

    def load_model(self, folder: Path, **load_kwargs):
        from transformers import AutoModelForSequenceClassification

        return AutoModelForSequenceClassification.from_pretrained(folder, **load_kwargs)

    def encode(self, examples: Examples, tokenizer, cfg: Config, labels: list[str] | None, *,
               training: bool = False) -> Encoded:
        from datasets import Dataset

        texts, cut = self.fitted_texts(examples, tokenizer, cfg.data.max_length)
        encoded = tokenizer(texts, truncation=True, max_length=cfg.data.max_length)
        columns = dict(encoded)
        if labels is not None and "label" in examples.columns:
            label2id = {label: i for i, label in enumerate(labels)}
            columns["labels"] = [label2id[label] for label in examples.columns["label"]]
        return Encoded(Dataset.from_dict(columns), [len(ids) for ids in encoded["input_ids"]], cut)

    def marked_texts(self, examples: Examples) -> list[str]:
        """The texts with their pair marked."""
        from tailor.data.relations import marked_text

        columns = examples.columns
        return [marked_text(*row) for row in zip(columns["text"], columns["head"], columns["tail"],
                                                  columns["head_type"], columns["tail_type"])]

    def fitted_texts(self, examples: Examples, tokenizer, max_length: int):
        """marked_texts, each too long for `max_length` tokens cut to a window around its pair; and a
        count of those cut (.count, .message)."""
        from tailor.data.relations import marked_text, pair_window

        columns, texts = examples.columns, self.marked_texts(examples)
        too_long = [i for i, ids in enumerate(tokenizer(texts, truncation=False, verbose=False)["input_ids"])
                    if len(ids) > max_length]
        for i in too_long:
            keep = len(columns["text"][i])
            while keep > 0:  # halve the context either side until the marked window fits
                keep //= 2
                text, head, tail = pair_window(columns["text"][i], columns["head"][i], columns["tail"][i], keep)
                texts[i] = marked_text(text, head, tail, columns["head_type"][i], columns["tail_type"][i])
                if len(tokenizer(texts[i], verbose=False)["input_ids"]) <= max_length:
                    break
        return texts, _Cut(len(too_long), len(texts), max_length)

    def training_metrics(self, cfg: Config, labels: list[str]):
        from sklearn.metrics import confusion_matrix

        from tailor.evaluation.classification import summary_metrics

        def compute(eval_pred) -> dict[str, float]:
            predicted, truth = np.asarray(eval_pred[0]), np.asarray(eval_pred[1])
            matrix = confusion_matrix(truth, predicted, labels=list(range(len(labels))))
            return {**relation_scores(matrix, labels, cfg.options.no_relation), **summary_metrics(truth, predicted)}

        return compute

    def evaluate(self, model, tokenizer, examples: Examples, cfg: Config, batch_size: int) -> dict:
        return with_relation_scores(super().evaluate(model, tokenizer, examples, cfg, batch_size), cfg)

    def baselines(self, model, tokenizer, data: TaskData, cfg: Config, base_location: str) -> dict:
        """The majority label and TF-IDF + logistic regression on the marked texts, each scored as the
        fine-tuned model is (relation scores beside the class metrics)."""
        from tailor.evaluation.classification import classical_baselines

        def answers(examples):
            return self.probabilities(model, tokenizer, examples, cfg, cfg.eval.batch_size).argmax(-1)

        found = classical_baselines(data, tfidf=cfg.options.classical_baseline, seed=cfg.train.seed,
                                    tuned_answers=answers, texts=self.marked_texts)
        for scores in found.values():
            with_relation_scores(scores, cfg)
            if "test" in scores:
                with_relation_scores(scores["test"], cfg)
        return found

    def check(self, data: TaskData, tokenizer, cfg: Config) -> dict:
        from tailor.data.check import text_report

        return text_report(data, tokenizer, cfg)

    def report_sections(self, metrics: dict) -> list[tuple[str, str]]:
        from tailor.evaluation.report import class_sections

        return class_sections(metrics)

    def explain(self, model, tokenizer, examples: Examples, cfg: Config, *, steps: int = 50) -> list[dict]:
        """Each word's contribution (markers included) to the logit of the predicted relation."""
        from tailor.evaluation.explanations import explain_texts

        return explain_texts(model, tokenizer, self.marked_texts(examples), None, cfg.data.max_length,
                             examples.get("label"), steps=steps)


class _Cut:
    """How many marked texts were cut around their pair to fit data.max_length."""

    def __init__(self, count: int, total: int, max_length: int):
        self.count, self.total, self.max_length = count, total, max_length

    def message(self, what: str) -> str | None:
        if not self.count:
            return None
        return (f"{self.count:,} of {self.total:,} {what} are longer than data.max_length={self.max_length} tokens "
                "with their pair marked: each was cut to a window around the pair, both entities kept")


def with_relation_scores(scores: dict, cfg: Config) -> dict:
    """Class metrics (with their confusion matrix) and, first, the relation scores read from it."""
    confusion = scores["confusion_matrix"]
    relation = relation_scores(np.array(confusion["matrix"]), confusion["labels"], cfg.options.no_relation)
    method = {"method": scores["method"]} if "method" in scores else {}
    updated = {**method, **relation, **scores}
    scores.clear()
    scores.update(updated)
    return scores


def relation_scores(matrix: np.ndarray, labels: list[str], no_relation: str) -> dict:
    """Precision, recall and F1 micro-averaged over the relations, "no relation" left out (predicting it
    is abstaining), from a confusion matrix (rows: true, columns: predicted)."""
    relations = [i for i, label in enumerate(labels) if label != no_relation]
    right = int(sum(matrix[i, i] for i in relations))
    predicted, true = int(matrix[:, relations].sum()), int(matrix[relations, :].sum())
    precision, recall = right / predicted if predicted else 0.0, right / true if true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"f1": f1, "precision": precision, "recall": recall}
