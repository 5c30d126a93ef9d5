"""Extractive question answering: the answer to a question as a span of its context, or none.

Data: SQuAD v1.1 / v2.0 JSON or flat rows (data/questions.py). Long contexts are read in overlapping
windows and answers mapped back to character spans (evaluation/extractive.py). A question is left
unanswered where "no answer" beats the best span by more than a threshold, tuned after training on the
evaluation split to the value the official SQuAD v2 scorer finds best for F1, and saved with the model.
Scores are the official algorithm's (evaluation/squad.py): exact match and token F1, split into
answerable and unanswerable questions, beside two baselines: always unanswerable, and the context's
first sentence.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import ClassVar

from pydantic import Field as Option

from tailor.config import Config, TaskOptions
from tailor.data.examples import Examples
from tailor.data.loading import TaskData
from tailor.tasks.base import Encoded, Metric, TokenizedText

THRESHOLD_KEY = "tailor_null_threshold"  # in model/config.json, where training tuned it


class QuestionAnsweringOptions(TaskOptions):
    stride: int = Option(128, gt=0, description="tokens each window of a long context shares with the one before")
    max_answer_tokens: int = Option(30, gt=0, description="longest answer, in tokens")
    null_threshold: float | None = Option(
        None, description="answer only where the best span beats 'no answer' by more than minus this margin "
                          "(SQuAD v2); default: tuned on the evaluation split after training (the official "
                          "scorer's best-F1 threshold) and saved with the model; 0 weighs them evenly")


class QuestionAnswering(TokenizedText):
    name: ClassVar[str] = "question-answering"
    summary: ClassVar[str] = "extractive: a question's answer as a span of its context, or none (SQuAD v1/v2)"
    default_model: ClassVar[str] = "minilm"
    Options: ClassVar = QuestionAnsweringOptions
    metrics: ClassVar = (Metric("exact_match"), Metric("f1"))
    targets: ClassVar[str] = "spans"
    processor_kind: ClassVar[str] = "tokenizer"
    columns: ClassVar = ("question", "context", "answers", "id")
    pipeline_tag: ClassVar[str] = "question-answering"
    pipeline_input: ClassVar[str] = 'question="your question", context="the text with the answer"'
    peft_task_type: ClassVar[str] = "QUESTION_ANS"
    export_formats: ClassVar[tuple[str, ...]] = ("hf", "onnx")
    lora_head: ClassVar[tuple] = ()
    input_keys: ClassVar[tuple[str, ...]] = ("question", "context")
    # Windows of 384 tokens overlapping by 128 (SQuAD's usual); fixed batches of 16 windows. Little data
    # needs more than the stock recipe (3 epochs at 1e-4): on the project's 600 training questions over
    # standard-library docs (examples/question_answering), MiniLM, test exact match / F1 (always
    # unanswerable: 0.20 / 0.20): 3 epochs at 1e-4 0.260 / 0.342 (178 s); up to 10 epochs at 1e-4
    # 0.480 / 0.583 (355 s), at 2e-4 0.555 / 0.660 (255 s), at 3e-4 0.530 / 0.637 (313 s); embeddings
    # trained too (1e-4) 0.455 / 0.564. Early stopping on the evaluation loss ends the run sooner.
    defaults: ClassVar[dict] = {"method": "full", "data.max_length": 384, "train.batch_size": 16,
                                "train.gradient_checkpointing": False, "model.dropout": 0.0,
                                "eval.batch_size": 32, "train.epochs": 10, "train.lr": 2e-4}
    stratify_by: ClassVar[None] = None
    lr_reference_rows: ClassVar[None] = None
    cpu_attention: ClassVar[str] = "eager"
    cpu_precision: ClassVar[None] = None

    def processor(self, location: str, cfg: Config, **load_kwargs):
        from tailor.models.processors import load_tokenizer

        # offsets map tokens back to the context's characters
        return load_tokenizer(location, cfg, fast_for="question answering", **load_kwargs)

    def read(self, path: Path, cfg: Config, *, targets: bool = True, split: str = "train") -> Examples:
        from tailor.data.questions import read_questions

        return read_questions(path, cfg, targets=targets, split=split)

    def examples_from_inputs(self, items: list[dict], cfg: Config, source: str) -> Examples:
        from tailor.data.questions import questions_from_rows

        return questions_from_rows(items, cfg, source)

    def build_model(self, location: str, cfg: Config, data: TaskData, **load_kwargs):
        from transformers import AutoModelForQuestionAnswering

        from tailor.models.loading import quiet_load_report

        with quiet_load_report():  # "qa_outputs MISSING" is expected: the head is new
            return AutoModelForQuestionAnswering.from_pretrained(location, **load_kwargs)

    def load_model(self, folder: Path, **load_kwargs):
        from transformers import AutoModelForQuestionAnswering

        return AutoModelForQuestionAnswering.from_pretrained(folder, **load_kwargs)

    def encode(self, examples: Examples, tokenizer, cfg: Config, labels: list[str] | None, *,
               training: bool = False) -> Encoded:
        """Windows of every question's context; with `labels` (training and the in-loop evaluation loss),
        where each window's answer starts and ends."""
        from datasets import Dataset

        from tailor.evaluation.extractive import windows

        answers = examples.columns["answers"] if labels is not None and "answers" in examples.columns else None
        found = windows(tokenizer, examples.columns["question"], examples.columns["context"], cfg.data.max_length,
                        cfg.options.stride, answers)
        lengths = [len(ids) for ids in found.columns["input_ids"]]
        fit = _Windowed(len(examples), len(found), cfg.data.max_length, cfg.options.stride)
        return Encoded(Dataset.from_dict(found.columns), lengths, fit, extras={"windows": found})

    def loss(self, cfg: Config, data: TaskData):
        from tailor.training.losses import span_loss

        return span_loss()

    def training_metrics(self, cfg: Config, labels: list[str]):
        return None  # spans need every window of a question: scored after training; the loss picks the checkpoint

    def finish_saved_model(self, folder: Path, model, processor, rebuild) -> None:
        from tailor.models.methods import merge_saved_adapter

        merge_saved_adapter(folder, rebuild)

    def collect(self, model, tokenizer, examples: Examples, cfg: Config, batch_size: int):
        """Each question's best span and no-answer score, window batch by window batch."""
        from tailor.evaluation.extractive import AnswerCollector
        from tailor.training.inference import forward_batches

        encoded = self.encode(examples, tokenizer, cfg, labels=None)
        found = encoded.extras["windows"]
        collector = AnswerCollector(len(examples))
        for rows, _, outputs in forward_batches(model, encoded, self.collator(tokenizer, cfg), batch_size):
            start, end = _start_end(outputs)
            collector.add_batch(start, end, rows, found, cfg.options.max_answer_tokens)
        return collector

    def threshold(self, model, cfg: Config) -> float:
        if cfg.options.null_threshold is not None:
            return cfg.options.null_threshold
        return float(getattr(model.config, THRESHOLD_KEY, 0.0))

    def evaluate(self, model, tokenizer, examples: Examples, cfg: Config, batch_size: int) -> dict:
        threshold = self.threshold(model, cfg)
        scores = _squad_scores(self.collect(model, tokenizer, examples, cfg, batch_size), examples, threshold)
        return {**scores.result(), "null_threshold": threshold}

    def predict(self, model, tokenizer, examples: Examples, cfg: Config, batch_size: int) -> list[dict]:
        collector = self.collect(model, tokenizer, examples, cfg, batch_size)
        threshold = self.threshold(model, cfg)
        answers = []
        for i, margin in enumerate(collector.null_margins()):
            start, end = (int(v) for v in collector.best_span[i])
            answered = margin <= threshold
            answers.append({"question": examples.columns["question"][i],
                            "answer": examples.columns["context"][i][start:end] if answered else "",
                            "start": start if answered else None, "end": end if answered else None,
                            # how far the span beats "no answer" (None: no window had a span to give)
                            "score": round(float(-margin), 4) if abs(margin) < float("inf") else None})
        return answers

    def fit_on_eval(self, processor, data: TaskData, cfg: Config, model_dir: Path) -> dict | None:
        """The no-answer threshold that maximises F1 on the evaluation split (the official scorer's
        best_f1_thresh), written into model/config.json; None when it is fixed or nothing is unanswerable."""
        from transformers import AutoConfig

        if cfg.options.null_threshold is not None or all(data.eval.columns["answers"]):
            return None
        collector = self.collect(self.load_model(model_dir), processor, data.eval, cfg, cfg.eval.batch_size)
        best = _squad_scores(collector, data.eval).best_threshold()
        threshold = _between_margins(best["best_f1_threshold"], collector.null_margins())
        config = AutoConfig.from_pretrained(model_dir)
        setattr(config, THRESHOLD_KEY, threshold)
        config.save_pretrained(model_dir)
        return {"null_threshold": threshold, "eval_f1_at_threshold": best["best_f1"],
                "lines": [f"no-answer threshold {threshold:.3f} (best F1 on the evaluation split, {best['best_f1']:.4f}; "
                          "saved with the model)"]}

    def baselines(self, model, tokenizer, data: TaskData, cfg: Config, base_location: str) -> dict:
        """Always answering nothing, and always answering the context's first sentence."""
        from tailor.evaluation.squad import SquadScores

        def scored(examples, answer) -> dict:
            scores = SquadScores()
            for context, answers in zip(examples.columns["context"], examples.columns["answers"]):
                scores.add(answer(context), [a["text"] for a in answers])
            return scores.result()

        result = {}
        for name, method, answer in (("baseline", "always unanswerable", lambda context: ""),
                                     ("first_sentence_baseline", "the context's first sentence", first_sentence)):
            result[name] = {"method": method, **scored(data.eval, answer)}
            if data.test is not None:
                result[name]["test"] = scored(data.test, answer)
        return result

    def check(self, data: TaskData, tokenizer, cfg: Config) -> dict:
        from tailor.data.questions import questions_report

        return questions_report(data, tokenizer, cfg)


def _squad_scores(collector, examples: Examples, threshold: float | None = None):
    """The official scorer fed each question's answer: with `threshold`, empty where no-answer wins by more;
    without, the best span with its margin, for the scorer's threshold search."""
    from tailor.evaluation.squad import SquadScores

    scores = SquadScores()
    for span, margin, answers in zip(collector.best_texts(examples.columns["context"]), collector.null_margins(),
                                     examples.columns["answers"]):
        references = [a["text"] for a in answers]
        if threshold is None:
            scores.add(span, references, null_margin=float(margin), best_span=span)
        else:
            scores.add("" if margin > threshold else span, references)
    return scores


def _between_margins(threshold: float, margins) -> float:
    """The scorer's best threshold is one question's own margin, on the edge between answering it and
    not: halfway to the next margin up answers the evaluation split the same, and rounding differences
    (an export, another process count) do not flip that question."""
    above = [float(m) for m in margins if threshold < m < float("inf")]  # inf: a question with no span at all
    return (threshold + min(above)) / 2 if above else threshold + 1.0


def _start_end(outputs):
    """Start and end scores, from a transformers model or an export that stacks them as `logits`."""
    if hasattr(outputs, "start_logits"):
        return outputs.start_logits, outputs.end_logits
    return outputs.logits[..., 0], outputs.logits[..., 1]


def first_sentence(context: str) -> str:
    return re.split(r"(?<=[.!?])\s+|\n", context.strip(), maxsplit=1)[0]


class _Windowed:
    """How many questions' contexts needed more than one window."""

    def __init__(self, questions: int, windows: int, max_length: int, stride: int):
        self.count, self.questions, self.windows = windows - questions, questions, windows
        self.max_length, self.stride = max_length, stride

    def message(self, what: str) -> str | None:
        return None  # nothing is cut: a fact worth a line (info), not a warning

    def info(self, what: str) -> str | None:
        if not self.count:
            return None
        return (f"{self.questions:,} questions ({what}) read as {self.windows:,} windows of data.max_length="
                f"{self.max_length} tokens overlapping by {self.stride}: long contexts are read whole, none cut")
