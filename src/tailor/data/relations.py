"""Relation extraction data: a text, two entities in it (the pair), and the relation between them.

An entity is given as its character span ([start, end], or {"start": .., "end": ..}) or as its text,
found in the sentence: a text that occurs more than once is an error unless the task's option
`ambiguous: first` says to take the first occurrence. Types (data.head_type / data.tail_type) are
read when the file has those columns. The pair is shown to the model with typed entity markers made
of ordinary punctuation, "@ * PER * Anna @ ... # ^ ORG ^ Acme #" (Zhou & Chen 2022, "An Improved
Baseline for Sentence-level Relation Extraction"): no new tokens, so the vocabulary, an export and a
plain transformers pipeline stay as they are.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from tailor.config import Config
from tailor.data.examples import Examples, select_fields
from tailor.data.readers import Table, read_table
from tailor.errors import DataError

HEAD_MARKS, TAIL_MARKS = ("@", "*"), ("#", "^")  # (around the entity, around its type)


def read_relations(path: Path, cfg: Config, *, targets: bool, split: str, ambiguous: str) -> Examples:
    """Validated pairs from a file: columns text, head and tail (character spans), head_type and
    tail_type (or None), and label when `targets`."""
    return relations_from_table(read_table(path, encoding=cfg.data.encoding, split=split), cfg, targets=targets,
                                ambiguous=ambiguous)


def relations_from_rows(rows: list[dict], cfg: Config, source: str, ambiguous: str) -> Examples:
    """Validated pairs given directly, no labels: dicts keyed text, head, tail (head_type, tail_type),
    whatever the run's files called those columns."""
    for i, row in enumerate(rows):
        missing = [key for key in ("text", "head", "tail") if key not in row]
        if missing:
            raise DataError(source, f"input {i + 1} has no {' or '.join(missing)}",
                            "Give each input a text and its pair: {\"text\": ..., \"head\": ..., \"tail\": ...}")
    rows = [{getattr(cfg.data, key): value for key, value in row.items()} for row in rows]
    columns = sorted({key for row in rows for key in row})
    table = Table(Path(source), columns, rows, [f"input {i + 1}" for i in range(len(rows))])
    return relations_from_table(table, cfg, targets=False, ambiguous=ambiguous)


def relations_from_table(table: Table, cfg: Config, *, targets: bool, ambiguous: str) -> Examples:
    from tailor.tasks.base import Field

    path = table.path
    fields = [Field("text", cfg.data.text, "data.text"),
              Field("head", cfg.data.head, "data.head", kind="value"),
              Field("tail", cfg.data.tail, "data.tail", kind="value")]
    fields += [Field(role, getattr(cfg.data, role), f"data.{role}", required=False)
               for role in ("head_type", "tail_type") if getattr(cfg.data, role) in table.columns]
    if targets:
        fields.append(Field("label", cfg.data.label, "data.label", kind="label"))
    examples = select_fields(table, fields, cfg.data.on_invalid)
    kept, skipped = [], Counter()
    for i, where in enumerate(examples.where):
        try:
            examples.columns["head"][i], examples.columns["tail"][i] = _pair(examples, i, ambiguous)
            kept.append(i)
        except _BadMention as bad:
            if cfg.data.on_invalid == "error":
                raise DataError(path, bad.problem, bad.fix, where=where, field=getattr(cfg.data, bad.role)) from None
            skipped[f"{_kind(bad.problem)} in '{getattr(cfg.data, bad.role)}'"] += 1
    if len(kept) < len(examples):
        examples = examples.subset(kept)
        examples.skipped.update(skipped)
    for role in ("head_type", "tail_type"):
        examples.columns.setdefault(role, [None] * len(examples))
    return examples


class _BadMention(Exception):
    def __init__(self, role: str, problem: str, fix: str):
        self.role, self.problem, self.fix = role, problem, fix


def _pair(examples: Examples, i: int, ambiguous: str) -> tuple[tuple[int, int], tuple[int, int]]:
    text, spans = examples.columns["text"][i], {}
    for role in ("head", "tail"):
        try:
            spans[role] = locate(examples.columns[role][i], text, ambiguous)
        except ValueError as problem:
            raise _BadMention(role, str(problem), _fix(problem)) from None
    (head_start, head_end), (tail_start, tail_end) = spans["head"], spans["tail"]
    if head_start < tail_end and tail_start < head_end:
        raise _BadMention("tail", "the head and the tail overlap", "A pair is two separate mentions: mark each once")
    return spans["head"], spans["tail"]


def locate(value, text: str, ambiguous: str = "error") -> tuple[int, int]:
    """The character span of an entity given as a span or as its text (ValueError says why not)."""
    if isinstance(value, dict) and {"start", "end"} <= set(value):
        value = [value["start"], value["end"]]
    if isinstance(value, (list, tuple)):
        if len(value) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise ValueError(f"span {value!r} is not [start, end] in characters")
        start, end = value
        if not 0 <= start < end <= len(text):
            raise ValueError(f"span [{start}, {end}] is outside the text ({len(text)} characters)")
        return start, end
    mention = str(value)
    found = text.find(mention)
    if not mention.strip() or found < 0:
        raise ValueError(f"'{mention[:60]}' does not occur in the text")
    if ambiguous == "error" and text.find(mention, found + 1) >= 0:
        raise ValueError(f"'{mention[:60]}' occurs {text.count(mention)} times in the text: ambiguous")
    return found, found + len(mention)


def _kind(problem: str) -> str:
    """A skipped row's reason in a few words, the same for every row it applies to (counted together)."""
    for says, kind in (("does not occur", "an entity not in its text"), ("ambiguous", "an entity found twice"),
                       ("overlap", "overlapping head and tail")):
        if says in problem:
            return kind
    return "a span outside its text"


def _fix(problem: ValueError) -> str:
    if "ambiguous" in str(problem):
        return ("Give the mention's character span [start, end] instead of its text, or set "
                "relation_extraction.ambiguous=first to take its first occurrence")
    return "Give the mention's exact text as it appears in the text, or its character span [start, end]"


def marked_text(text: str, head: tuple[int, int], tail: tuple[int, int], head_type: str | None = None,
                tail_type: str | None = None) -> str:
    """The text with typed markers around the pair, the later span first so offsets stay valid."""
    marks = sorted([(head, HEAD_MARKS, head_type), (tail, TAIL_MARKS, tail_type)], key=lambda m: m[0][0], reverse=True)
    for (start, end), (outer, inner), kind in marks:
        label = f"{inner} {kind} {inner} " if kind else ""
        text = f"{text[:start]}{outer} {label}{text[start:end]} {outer}{text[end:]}"
    return text


def pair_window(text: str, head: tuple[int, int], tail: tuple[int, int], keep: int):
    """The text cut to `keep` characters either side of the pair (whole text when it fits), with the
    spans moved to match: how a long text keeps both entities within data.max_length."""
    low, high = min(head[0], tail[0]), max(head[1], tail[1])
    start, end = max(0, low - keep), min(len(text), high + keep)
    move = lambda span: (span[0] - start, span[1] - start)  # noqa: E731
    return text[start:end], move(head), move(tail)
