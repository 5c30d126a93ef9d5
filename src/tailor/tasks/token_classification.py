"""Token classification: a tag per word (named entities, tagging), answered as character spans.

Files: CoNLL columns (recognised by content), JSON rows with token and tag lists, or text with
character-offset spans (data/tagging.py); tags of any scheme are learned as BIO. Each word's first
sub-token is trained, the rest are ignored; a sentence longer than data.max_length is split into
windows of whole words rather than cut. Scores are entity-level (seqeval), beside the baseline of
tagging each word with its most frequent training tag.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
from pydantic import Field as Option

from tailor.config import Config, TaskOptions
from tailor.data.examples import IGNORE, Examples
from tailor.data.loading import TaskData
from tailor.errors import DataError
from tailor.models.catalog import DEFAULT_LR_ROWS
from tailor.tasks.base import Encoded, Metric



class TokenClassificationOptions(TaskOptions):
    invalid_tags: Literal["repair", "error"] = Option(
        "repair", description="an I-X tag with no B-X before it: read it as B-X and count it, or stop with an "
                              "error at its line")


class TokenClassification:
    name: ClassVar[str] = "token-classification"
    summary: ClassVar[str] = "a tag per word: named entities (NER), tagging; answers are character spans"
    default_model: ClassVar[str] = "minilm"
    Options: ClassVar = TokenClassificationOptions
    metrics: ClassVar = (Metric("f1"), Metric("precision"), Metric("recall"), Metric("accuracy", headline=False))
    targets: ClassVar[str] = "tags"
    processor_kind: ClassVar[str] = "tokenizer"
    columns: ClassVar = ("text", "tokens", "tags", "spans")
    pipeline_tag: ClassVar[str] = "token-classification"
    # the first sub-token of each word carries its tag (as trained): whole words come back
    pipeline_input: ClassVar[str] = '"your text here", aggregation_strategy="first"'
    peft_task_type: ClassVar[str] = "TOKEN_CLS"
    export_formats: ClassVar[tuple[str, ...]] = ("hf", "onnx")
    lora_head: ClassVar[tuple] = ()
    # Sentences are short (CoNLL news ~14 words, tweets ~20): batches of 8 and 128 sub-tokens, as for
    # classification; no dropout and eager attention on a CPU for the same measured reasons.
    # 5 epochs at lr 1e-4: on 1,600 CoNLL-2003 sentences (benchmarks/ner_news.py, MiniLM, one seed)
    # validation entity F1 0.835 in 142 s of training, against 0.825 at 5e-5 (5 epochs) and 0.805 at
    # 5e-5 (3 epochs); a tagger's head learns from few entities per step, so it wants larger steps.
    defaults: ClassVar[dict] = {"method": "full", "data.max_length": 128, "train.batch_tokens": 1024,
                                "train.batch_size": 256,
                                "train.gradient_checkpointing": False, "model.dropout": 0.0,
                                "eval.batch_size": 64, "train.epochs": 5, "train.lr": 1e-4}
    stratify_by: ClassVar[None] = None
    lr_reference_rows: ClassVar[int] = DEFAULT_LR_ROWS
    cpu_attention: ClassVar[str] = "eager"
    cpu_precision: ClassVar[None] = None

    def processor(self, location: str, cfg: Config, **load_kwargs):
        from tailor.models.processors import load_tokenizer

        # word_ids() maps sub-tokens back to words
        return load_tokenizer(location, cfg, fast_for="token classification", **load_kwargs)

    def read(self, path: Path, cfg: Config, *, targets: bool = True, split: str = "train") -> Examples:
        from tailor.data.tagging import read_tagged

        return read_tagged(path, tokens=cfg.data.tokens, tags=cfg.data.tags, text=cfg.data.text,
                           spans=cfg.data.spans, with_targets=targets, invalid_tags=cfg.options.invalid_tags,
                           encoding=cfg.data.encoding, on_invalid=cfg.data.on_invalid, split=split)

    def label_set(self, train: Examples, cfg: Config) -> list[str]:
        from tailor.data.tags import bio_labels, tag_types

        types = tag_types(train.columns["tags"])
        if not types:
            raise DataError(train.path, f"none of the {len(train)} sentences has an entity (every tag is O)",
                            "A tagger needs tagged examples; check that the tags are in the last column",
                            field=cfg.data.tags)
        return bio_labels(types)

    def check_labels(self, examples: Examples, labels: list[str], cfg: Config) -> None:
        known = set(labels)
        for tags, where in zip(examples.columns.get("tags", []), examples.where):
            for tag in tags:
                if tag not in known:
                    types = sorted({label[2:] for label in labels if label != "O"})
                    raise DataError(examples.path, f"tag '{tag}' never appears in the training data (its types: "
                                    f"{', '.join(types[:12])})", "Add training sentences with this type, or map it "
                                    "to a known type or to O", where=where, field=cfg.data.tags)

    def build_model(self, location: str, cfg: Config, data: TaskData, **load_kwargs):
        from transformers import AutoModelForTokenClassification

        from tailor.models.loading import with_new_head

        return with_new_head(AutoModelForTokenClassification, location, data.labels, **load_kwargs)

    def encode(self, examples: Examples, tokenizer, cfg: Config, labels: list[str] | None, *,
               training: bool = False) -> Encoded:
        """Sub-tokens of each sentence (windows of whole words where it is too long); the first
        sub-token of a word carries its tag, the others and the special tokens are ignored."""
        from datasets import Dataset

        tags = examples.get("tags") if labels is not None else None
        label2id = {label: i for i, label in enumerate(labels or [])}
        windows, split = _windows(tokenizer, _as_read(tokenizer, _words(examples)), cfg.data.max_length)
        encoded = tokenizer([w.words for w in windows], is_split_into_words=True, truncation=True,
                            max_length=cfg.data.max_length)
        columns = {key: encoded[key] for key in encoded.keys()}
        word_ids = [encoded.word_ids(i) for i in range(len(windows))]
        if tags is not None:
            columns["labels"] = [_aligned_labels(ids, tags[w.example][w.first:w.first + len(w.words)], label2id)
                                 for ids, w in zip(word_ids, windows)]
        report = WindowReport(split, len(windows) - len(examples), len(examples), cfg.data.max_length)
        return Encoded(Dataset.from_dict(columns), [len(ids) for ids in encoded["input_ids"]], report,
                       extras={"windows": windows, "word_ids": word_ids})

    def collator(self, tokenizer, cfg: Config):
        from transformers import DataCollatorForTokenClassification

        return DataCollatorForTokenClassification(tokenizer, label_pad_token_id=IGNORE)

    def loss(self, cfg: Config, data: TaskData):
        from tailor.tasks.base import class_loss_for

        return class_loss_for(cfg, data.labels, [tag for tags in data.train.columns["tags"] for tag in tags])

    def training_metrics(self, cfg: Config, labels: list[str]):
        """Entity F1 at each evaluation, from the predicted ids (the engine keeps argmax, not logits)."""
        from tailor.evaluation.entities import entity_metrics

        def compute(eval_pred) -> dict[str, float]:
            predicted, label_ids = eval_pred
            truth, guess = [], []
            for row_pred, row_true in zip(np.asarray(predicted), np.asarray(label_ids)):
                trained = row_true != IGNORE
                truth.append([labels[i] for i in row_true[trained]])
                guess.append(_decoded([labels[i] for i in row_pred[trained]]))
            scores = entity_metrics(truth, guess)
            return {k: scores[k] for k in ("f1", "precision", "recall", "accuracy")}

        return compute

    def baselines(self, model, tokenizer, data: TaskData, cfg: Config, base_location: str) -> dict:
        from tailor.evaluation.entities import most_frequent_tag_baseline

        return {"baseline": most_frequent_tag_baseline(data.train.columns["tokens"], data.train.columns["tags"],
                                                       data.eval.columns["tokens"], data.eval.columns["tags"])}

    def check(self, data: TaskData, tokenizer, cfg: Config) -> dict:
        """`tailor data check`: sentences, tokens and entities per type; repaired tags and skipped
        sentences (in the notes); sentences longer than data.max_length; unknown tokens."""
        from tailor.data.check import unknown_rate, unknown_token_warning

        lines, warnings = list(data.info), []
        counts = {split: _entity_counts(examples.columns["tags"]) for split, examples in
                  (("train", data.train), ("eval", data.eval))}
        for split, examples in (("train", data.train), ("eval", data.eval)):
            warnings += examples.warnings
            if examples.skipped:  # the check counts what training would stop at
                warnings.append(f"{split}: {sum(examples.skipped.values())} sentences would stop training (" +
                                ", ".join(f"{n} with {why}" for why, n in examples.skipped.items()) +
                                "); fix them or set data.on_invalid=skip")
            shown = ", ".join(f"{kind} {n}" for kind, n in counts[split].most_common())
            lines.append(f"{split}: {len(examples):,} sentences, {sum(map(len, examples.columns['tokens'])):,} tokens, "
                         f"{sum(counts[split].values()):,} entities ({shown or 'none'})")
        lengths = np.array([len(ids) for ids in tokenizer(_as_read(tokenizer, data.train.columns["tokens"]),
                                                          is_split_into_words=True, verbose=False)["input_ids"]])
        lines.append(f"length in sub-tokens: p50 {int(np.percentile(lengths, 50))}  p99 {int(np.percentile(lengths, 99))}"
                     f"  max {int(lengths.max())};  {int((lengths > cfg.data.max_length).sum())} sentences over "
                     f"data.max_length={cfg.data.max_length} (split into windows of whole words)")
        rare = [kind for kind, n in counts["train"].items() if n < 10]
        if rare:
            warnings.append(f"types with fewer than 10 training entities: {', '.join(rare)}; expect low recall on them")
        unknown = unknown_rate(tokenizer, [" ".join(t) for t in data.train.columns["tokens"][:2000]])
        lines.append(f"unknown-token rate: {100 * unknown['rate']:.1f}%")
        warnings += unknown_token_warning(unknown, cfg.model.name)
        return {"lines": lines, "warnings": warnings, "entities": {k: dict(v) for k, v in counts.items()}}

    def report_sections(self, metrics: dict) -> list[tuple[str, str]]:
        from tailor.evaluation.report import calibration_section, confusion_figure, per_label_table

        evaluation = metrics["eval"]
        return [("Per entity type (evaluation data)", per_label_table(evaluation.get("per_type"), "type")),
                ("Entity types: gold (rows) vs predicted (columns); O = missed or spurious",
                 confusion_figure(evaluation.get("confusion"), "")),
                ("Calibration of the tags, word by word", calibration_section(metrics))]

    def finish_saved_model(self, folder: Path, model, tokenizer, rebuild) -> None:
        from tailor.models.methods import merge_saved_adapter

        merge_saved_adapter(folder, rebuild)

    def load_model(self, folder: Path, **load_kwargs):
        from transformers import AutoModelForTokenClassification

        return AutoModelForTokenClassification.from_pretrained(folder, **load_kwargs)

    def evaluate(self, model, tokenizer, examples: Examples, cfg: Config, batch_size: int) -> dict:
        from tailor.evaluation.calibration import confidence_bins
        from tailor.evaluation.entities import entity_f1_interval, entity_metrics

        predicted, scores = self.word_predictions(model, tokenizer, examples, cfg, batch_size)
        gold = examples.columns["tags"]
        # Calibration per word: how sure the model was of the tag it gave, and whether that tag was right.
        calibration = confidence_bins([s for sentence in scores for s in sentence],
                                      [p == g for ps, gs in zip(predicted, gold) for p, g in zip(ps, gs)])
        intervals = {"ci95": {"f1": entity_f1_interval(gold, predicted, resamples=cfg.eval.bootstrap)}} \
            if cfg.eval.bootstrap else {}
        return {**entity_metrics(gold, predicted), "ece": calibration["ece"], "calibration": calibration["bins"],
                **intervals, "examples": len(examples)}

    def predict(self, model, tokenizer, examples: Examples, cfg: Config, batch_size: int) -> list[dict]:
        from tailor.data.tags import entities_from_tags

        examples = _with_words(examples)
        tags, scores = self.word_predictions(model, tokenizer, examples, cfg, batch_size)
        return [{"text": text, "entities": entities_from_tags(t, offsets, text, s)}
                for text, offsets, t, s in zip(examples.columns["text"], examples.columns["offsets"], tags, scores)]

    def word_predictions(self, model, tokenizer, examples: Examples, cfg: Config, batch_size: int):
        """(tags, scores) per word of every example: the tag at each word's first sub-token, batch by
        batch (only the winning tag and its probability are kept, never the logits)."""
        import torch

        from tailor.evaluation.classification import model_labels
        from tailor.training.inference import forward_batches

        encoded = self.encode(examples, tokenizer, cfg, labels=None)
        names = model_labels(model)
        tags = [[None] * len(words) for words in examples.columns["tokens"]]
        scores = [[0.0] * len(words) for words in examples.columns["tokens"]]
        windows, word_ids = encoded.extras["windows"], encoded.extras["word_ids"]
        for rows, _, outputs in forward_batches(model, encoded, self.collator(tokenizer, cfg), batch_size):
            best, ids = torch.softmax(outputs.logits.float(), -1).max(-1)
            for row, row_best, row_ids in zip(rows, best.cpu().numpy(), ids.cpu().numpy()):
                window = windows[row]
                for position, word in _first_sub_tokens(word_ids[row]):
                    tags[window.example][window.first + word] = names[row_ids[position]]
                    scores[window.example][window.first + word] = float(row_best[position])
        # Only a word that no window holds (none, as _windows gives every word a sub-token) stays None.
        return [_decoded([t or "O" for t in sentence]) for sentence in tags], scores


@dataclass(frozen=True)
class Window:
    """Consecutive words of one example that fit in data.max_length sub-tokens."""

    example: int
    first: int  # index of the window's first word in the example
    words: list[str]


@dataclass(frozen=True)
class WindowReport:
    """Long sentences are split into windows of whole words, never cut: said, and counted."""

    count: int  # sentences split
    extra_windows: int
    total: int
    max_length: int

    def message(self, what: str) -> str | None:
        if not self.count:
            return None
        return (f"{self.count:,} of {self.total:,} {what} are longer than data.max_length={self.max_length} "
                f"sub-tokens and were split into windows of whole words ({self.extra_windows:,} extra windows); "
                "raise data.max_length to keep more of them whole")


def _words(examples: Examples) -> list[list[str]]:
    return examples.columns["tokens"] if "tokens" in examples.columns else _with_words(examples).columns["tokens"]


def _as_read(tokenizer, sentences: list[list[str]]) -> list[list[str]]:
    """Words as the tokenizer saw them in pretraining. A byte-level BPE (GPT-2, RoBERTa, SmolLM2, Qwen)
    marks a word's leading space in its first piece, so given one by one, " world" needs its space
    back, while a Chinese character, written without one, must not get it (asking the tokenizer for
    add_prefix_space would give every character a space and double its pieces)."""
    from tailor.data.tags import spaced_words

    if "ByteLevel" not in repr(tokenizer.backend_tokenizer.pre_tokenizer):
        return sentences
    return [spaced_words(words) for words in sentences]


def _with_words(examples: Examples) -> Examples:
    """Raw texts (from --text) split into words, with their character offsets."""
    if "tokens" in examples.columns:
        return examples
    from tailor.data.tags import split_words

    texts = examples.columns["text"]
    offsets = [split_words(text) for text in texts]
    tokens = [[text[start:end] for start, end in spans] for text, spans in zip(texts, offsets)]
    return Examples(examples.path, {**examples.columns, "tokens": tokens, "offsets": offsets}, examples.where)


def _windows(tokenizer, sentences: list[list[str]], max_length: int) -> tuple[list[Window], int]:
    """Each sentence as one window, or as several of whole words where its sub-tokens do not fit."""
    room = max_length - tokenizer.num_special_tokens_to_add()
    if room < 1:
        from tailor.errors import ConfigError

        raise ConfigError(f"data.max_length={max_length} leaves no room for words beside the model's "
                          f"{tokenizer.num_special_tokens_to_add()} special tokens; raise it (default 128)")
    pieces = tokenizer(sentences, is_split_into_words=True, add_special_tokens=False)
    windows, split = [], 0
    for index, words in enumerate(sentences):
        counts = Counter(word for word in pieces.word_ids(index) if word is not None)
        if len(counts) < len(words) and tokenizer.unk_token:
            # A word the tokenizer reads as nothing (a zero-width space, a lone soft hyphen) would get
            # no sub-token to carry its tag: it is given as the unknown token instead.
            words = [word if i in counts else tokenizer.unk_token for i, word in enumerate(words)]
            counts.update(i for i in range(len(words)) if i not in counts)
        if sum(counts.values()) <= room:
            windows.append(Window(index, 0, words))
            continue
        split += 1
        first, used = 0, 0
        for word in range(len(words)):
            size = counts.get(word, 0)
            if used + size > room and word > first:
                windows.append(Window(index, first, words[first:word]))
                first, used = word, 0
            used += size
        windows.append(Window(index, first, words[first:]))
    return windows, split


def _entity_counts(sequences: list[list[str]]) -> Counter:
    return Counter(tag[2:] for tags in sequences for tag in tags if tag.startswith("B-"))


def _first_sub_tokens(word_ids: list[int | None]):
    """(position, word) of the first sub-token of every word."""
    previous = None
    for position, word in enumerate(word_ids):
        if word is not None and word != previous:
            yield position, word
        previous = word


def _aligned_labels(word_ids: list[int | None], tags: list[str], label2id: dict[str, int]) -> list[int]:
    labels = [IGNORE] * len(word_ids)
    for position, word in _first_sub_tokens(word_ids):
        labels[position] = label2id[tags[word]]
    return labels


def _decoded(tags: list[str]) -> list[str]:
    """Predicted tags as valid BIO: an I-X after O or another type begins an entity (as CoNLL's
    scorer reads it), so the strict entity scores and the answered spans agree."""
    from tailor.data.tags import to_bio

    return to_bio(tags, lenient=True)[0]
