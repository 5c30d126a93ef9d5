"""Extractive question answering data: a question, the context that may answer it, and the answers as
character spans of the context (none: the question is unanswerable, as in SQuAD v2.0).

Formats: the official SQuAD v1.1 / v2.0 JSON (`data[].paragraphs[].qas[]`, `is_impossible`), and flat
rows (JSON list, JSONL, CSV, Parquet, a `datasets` folder; also `{"data": [rows]}`) with an id, a
question, a context and `answers: {"text": [...], "answer_start": [...]}` (Hugging Face's layout; a list
of {"text", "answer_start"} works too), the column names set under data.*. Every answer must sit where
its answer_start says; ids must be unique.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from tailor.config import Config
from tailor.data.examples import Examples
from tailor.data.readers import Table, decode_text, read_table
from tailor.errors import DataError


def read_questions(path: Path, cfg: Config, *, targets: bool, split: str) -> Examples:
    """Validated questions: columns id, question, context and (with `targets`) answers, a list of
    {"text", "start"} per question, empty for an unanswerable one."""
    table = _squad_table(path, cfg) if path.suffix.lower() == ".json" else None
    table = table or read_table(path, encoding=cfg.data.encoding, split=split)
    return questions_from_table(table, cfg, targets=targets)


def _squad_table(path: Path, cfg: Config) -> Table | None:
    """A .json file in SQuAD's nested layout, or with its rows under "data", as flat rows; None for a
    plain list of rows (the shared reader's)."""
    try:
        data = json.loads(decode_text(path, cfg.data.encoding))
    except json.JSONDecodeError:
        return None  # the shared reader says where the syntax breaks
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        return None
    items = data["data"]
    if not all(isinstance(item, dict) for item in items):
        raise DataError(path, "\"data\" holds something other than objects", "Each item of \"data\" is an "
                        "article {\"title\", \"paragraphs\": [...]} (SQuAD) or a question row")
    if not any("paragraphs" in item for item in items):
        columns = list(dict.fromkeys(key for item in items for key in item))
        return Table(path, columns, items, [f"item {i + 1}" for i in range(len(items))])
    rows, where = [], []
    for a, article in enumerate(items, start=1):
        for p, paragraph in enumerate(article.get("paragraphs", []), start=1):
            for q, qa in enumerate(paragraph.get("qas", []), start=1):
                answers = [] if qa.get("is_impossible") else qa.get("answers", [])
                rows.append({cfg.data.id: qa.get("id"), cfg.data.question: qa.get("question"),
                             cfg.data.context: paragraph.get("context"), cfg.data.answers: answers})
                where.append(f"article {a}, paragraph {p}, question {q}")
    columns = [cfg.data.id, cfg.data.question, cfg.data.context, cfg.data.answers]
    return Table(path, columns, rows, where)


def questions_from_table(table: Table, cfg: Config, *, targets: bool) -> Examples:
    from tailor.data.examples import select_fields
    from tailor.tasks.base import Field

    fields = [Field("question", cfg.data.question, "data.question"),
              Field("context", cfg.data.context, "data.context")]
    if cfg.data.id in table.columns:
        fields.insert(0, Field("id", cfg.data.id, "data.id", kind="value", required=False))
    if targets:
        fields.append(Field("answers", cfg.data.answers, "data.answers", kind="value"))
    examples = select_fields(table, fields, cfg.data.on_invalid)
    ids = examples.columns.get("id") or [None] * len(examples)
    examples.columns["id"] = [str(i) if i is not None else f"{n + 1}" for n, i in enumerate(ids)]
    _check_unique(examples, cfg)
    if targets:
        _read_answers(examples, cfg)
    return examples


def _check_unique(examples: Examples, cfg: Config) -> None:
    first: dict[str, str] = {}
    for qid, where in zip(examples.columns["id"], examples.where):
        if qid in first:
            raise DataError(examples.path, f"id '{qid}' is used twice (first at {first[qid]})",
                            "Give every question its own id: answers and scores are matched by it",
                            where=where, field=cfg.data.id)
        first[qid] = where


def _read_answers(examples: Examples, cfg: Config) -> None:
    """Each row's answers as [{"text", "start"}], checked against the context; with data.on_invalid=skip
    a question whose answer is misplaced is left out and counted."""
    kept, skipped = [], Counter()
    for i, where in enumerate(examples.where):
        try:
            examples.columns["answers"][i] = answer_spans(examples.columns["answers"][i],
                                                          examples.columns["context"][i])
            kept.append(i)
        except ValueError as problem:
            if cfg.data.on_invalid == "error":
                raise DataError(examples.path, f"question '{examples.columns['id'][i]}': {problem}",
                                "Correct answer_start (the answer's 0-based character offset in the context) or "
                                "the answer text", where=where, field=cfg.data.answers) from None
            skipped[f"an answer not where answer_start says in '{cfg.data.answers}'"] += 1
    if len(kept) < len(examples):
        trimmed = examples.subset(kept)
        examples.columns, examples.where = trimmed.columns, trimmed.where
        examples.skipped.update(skipped)


def answer_spans(value, context: str) -> list[dict]:
    """Answers in either layout ({"text": [...], "answer_start": [...]} or [{"text", "answer_start"}],
    or a JSON string of one) as [{"text", "start"}], each checked to sit at its offset."""
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else []
        except json.JSONDecodeError:
            raise ValueError("answers is text that is not JSON") from None
    if isinstance(value, dict):
        texts, starts = value.get("text", []), value.get("answer_start", [])
        if len(texts) != len(starts):
            raise ValueError(f"{len(texts)} answer texts but {len(starts)} answer_start values")
        value = [{"text": t, "answer_start": s} for t, s in zip(texts, starts)]
    if not isinstance(value, list):
        raise ValueError('answers is neither {"text": [...], "answer_start": [...]} nor a list of answers')
    spans = []
    for answer in value:
        text, start = answer.get("text"), answer.get("answer_start")
        if not isinstance(text, str) or not text or not isinstance(start, int) or isinstance(start, bool):
            raise ValueError(f"answer {answer!r} needs a non-empty text and an integer answer_start")
        if context[start:start + len(text)] != text:
            found = context.find(text)
            hint = f"; the text occurs at {found}" if found >= 0 else "; the text does not occur in the context"
            raise ValueError(f"answer '{text[:60]}' is not at character {start} of its context (there: "
                             f"'{context[start:start + len(text)][:60]}'){hint}")
        spans.append({"text": text, "start": start})
    return spans


def questions_from_rows(rows: list[dict], cfg: Config, source: str) -> Examples:
    """Questions given directly (a request's inputs, the command line): dicts keyed question and context,
    whatever the run's files called those columns."""
    for i, row in enumerate(rows):
        missing = [key for key in ("question", "context") if not isinstance(row.get(key), str)]
        if missing:
            raise DataError(source, f"input {i + 1} has no {' or '.join(missing)} text",
                            'Give each input as {"question": "...", "context": "..."}')
    mapped = [{cfg.data.question: row["question"], cfg.data.context: row["context"]} for row in rows]
    table = Table(Path(source), [cfg.data.question, cfg.data.context], mapped,
                  [f"input {i + 1}" for i in range(len(rows))])
    return questions_from_table(table, cfg, targets=False)


def questions_report(data, tokenizer, cfg: Config) -> dict:
    """`tailor data check` for questions: how many are unanswerable, contexts longer than one window,
    answers skipped because they were not where answer_start said, lengths."""
    import numpy as np

    splits = {"train": data.train, "eval": data.eval}
    unanswerable = {name: sum(not answers for answers in examples.columns["answers"]) for name, examples in splits.items()}
    pairs = tokenizer(data.train.columns["question"][:2000], data.train.columns["context"][:2000], truncation=False,
                      verbose=False)["input_ids"]
    lengths = np.array([len(ids) for ids in pairs])
    long = int((lengths > cfg.data.max_length).sum())
    skipped = {name: dict(examples.skipped) for name, examples in splits.items()}
    lines = list(data.info) + [
        f"questions: train {len(data.train):,}  eval {len(data.eval):,}  ({data.eval_source})",
        "unanswerable: " + "  ".join(f"{name} {count:,} ({100 * count / max(len(splits[name]), 1):.0f}%)"
                                     for name, count in unanswerable.items()),
        f"question + context in tokens (train): p50 {int(np.percentile(lengths, 50))}  p95 "
        f"{int(np.percentile(lengths, 95))}  max {int(lengths.max())};  {long} of {len(lengths):,} longer than one "
        f"window (data.max_length={cfg.data.max_length}): read in windows overlapping by {cfg.options.stride}",
        "skipped: " + "  ".join(f"{name} {sum(counts.values())}" for name, counts in skipped.items()),
    ]
    from tailor.data.check import skipped_warnings

    warnings = skipped_warnings(skipped, "questions")
    if unanswerable["train"] == len(data.train):
        warnings.append("every training question is unanswerable: check data.answers points at the answers")
    return {"rows": {name: len(examples) for name, examples in splits.items()}, "unanswerable": unanswerable,
            "longer_than_one_window": long, "skipped": skipped, "lines": lines, "warnings": warnings}
