"""Token classification (NER) data: CoNLL columns, token/tag lists, or text with character spans
-> one form: per sentence its tokens, their character offsets in a text, and BIO (IOB2) tags.

Formats (CoNLL is recognised by content, whatever the extension; the rest by the keys of the rows):
  CoNLL      one token per line, its tag in the last column, a blank line between sentences
  tokens     {"tokens": ["EU", "rejects", ...], "tags": ["B-ORG", "O", ...]}   (JSONL, JSON, Parquet ...)
  spans      {"text": "EU rejects ...", "spans": [{"start": 0, "end": 2, "label": "ORG"}]}
Tags may be BIO, IOB1, IO, BIOES or BILOU (or a mixture); they always come out as BIO.
"""

from __future__ import annotations

import functools
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from tailor.data.examples import Examples
from tailor.data.readers import Table, decode_text, read_jsonl, read_table
from tailor.data.tags import (LENIENT_SCHEMES, detect_scheme, is_tag, split_tag, split_words, tag_types, to_bio,
                              tokens_to_text)
from tailor.errors import DataError

_TABLE_SUFFIXES = {".csv", ".tsv", ".jsonl", ".ndjson", ".json", ".parquet"}
_NO_SNIFF = {".jsonl", ".ndjson", ".json", ".parquet"}  # never CoNLL: do not read bytes to find out
_LONG_SENTENCE = 500  # tokens; longer usually means the blank lines between sentences are missing


def looks_like_conll(path: Path, encoding: str = "utf-8") -> bool:
    """Whether the file starts like CoNLL: token lines of >= 2 columns whose last column is a tag."""
    with open(path, "rb") as handle:
        head = handle.read(65536)
    try:
        text = head.decode(encoding, errors="ignore")  # the read may end inside a character
    except LookupError:
        return False  # the reader names the unknown encoding
    lines = [line for line in text.splitlines() if line.strip()]
    lines = [fields for fields in map(_fields, lines) if fields[0] != "-DOCSTART-"][:20]
    lines = [fields for fields in lines if not _surely_comment(fields)]
    if not lines or len(lines[0]) < 2 or not is_tag(lines[0][-1]):
        return False
    return sum(len(fields) >= 2 and is_tag(fields[-1]) for fields in lines) >= 0.8 * len(lines)


def _fields(line: str) -> list[str]:
    return [field.strip() for field in line.split("\t")] if "\t" in line else line.split()


def _maybe_comment(fields: list[str]) -> bool:
    # `#\tsource ...`, `# sent_id = 1`: "#" alone as the first field. Whether "# O" is the token "#"
    # is decided by the column count (see _Layout.is_comment).
    return fields[0] == "#"


def _surely_comment(fields: list[str]) -> bool:
    return _maybe_comment(fields) and not is_tag(fields[-1])


@dataclass
class _Sentence:
    tokens: list[str]
    tags: list[str] | None
    where: str
    token_lines: list[int] | None = None  # CoNLL: the line of each token, to point errors at it
    text: str | None = None  # spans: the text as given, with the words' offsets
    offsets: list[tuple[int, int]] | None = None

    def locate(self, index: int) -> str:
        return f"line {self.token_lines[index]}" if self.token_lines else f"{self.where}, token {index + 1}"


class _Invalid(DataError):
    """A DataError about one sentence: skippable with on_invalid=skip, counted under `reason`."""

    def __init__(self, reason: str, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.reason = reason


@dataclass(frozen=True)
class _Columns:
    tokens: str
    tags: str
    text: str
    spans: str


def read_tagged(path: Path, *, tokens: str = "tokens", tags: str = "tags", text: str = "text", spans: str = "spans",
                with_targets: bool = True, invalid_tags: str = "repair", encoding: str = "utf-8",
                on_invalid: str = "error", split: str = "train") -> Examples:
    """Read a token classification file -> Examples with columns tokens, offsets, text (and tags in
    BIO when with_targets). Bad sentences raise DataError, or are counted in `skipped` when
    on_invalid="skip". invalid_tags="repair" reads an I-X with no B-X before it as B-X (and warns)."""
    if invalid_tags not in ("repair", "error") or on_invalid not in ("error", "skip"):
        raise ValueError(f"invalid_tags={invalid_tags!r}, on_invalid={on_invalid!r}")
    path, names, skipped = Path(path), _Columns(tokens, tags, text, spans), Counter()
    keep = functools.partial(_keep_valid, on_invalid=on_invalid, skipped=skipped)
    if _is_conll(path, encoding):
        source, sentences = _conll_sentences(path, encoding, with_targets, keep)
    else:
        source, sentences = _row_sentences(_read_rows(path, encoding, split), names, with_targets, keep)
    scheme, warnings = "", []
    if with_targets and not source.startswith("text"):
        sentences = keep(sentences, lambda s: _check_tag_syntax(s, path, names.tags))
        scheme = detect_scheme(s.tags for s in sentences)
        repaired: Counter = Counter()
        sentences = keep(sentences, lambda s: _bio(s, path, names.tags, scheme, invalid_tags, repaired))
        warnings += [_repair_warning(path, repaired)] if repaired else []
    if not sentences:
        reasons = ", ".join(f"{n} with {reason}" for reason, n in skipped.items())
        raise DataError(path, f"every sentence was skipped ({reasons})" if skipped else "the file has no sentences",
                        "Check the file and the data.* column settings")
    examples = _examples(path, sentences, with_targets, skipped)
    examples.notes.append(_summary(path, source, examples, scheme if with_targets else None))
    examples.warnings.extend(warnings + _doubts(path, sentences, with_targets))
    return examples


def _keep_valid(items: Iterable, build: Callable, *, on_invalid: str, skipped: Counter) -> list[_Sentence]:
    kept = []
    for item in items:
        try:
            kept.append(build(item))
        except _Invalid as error:
            if on_invalid != "skip":
                raise
            skipped[error.reason] += 1
    return kept


def _is_conll(path: Path, encoding: str) -> bool:
    suffix = path.suffix.lower()
    if not path.is_file() or suffix in _NO_SNIFF:
        return False  # read_table says what is wrong with a missing file
    return suffix not in _TABLE_SUFFIXES or (path.stat().st_size > 0 and looks_like_conll(path, encoding))


# --- CoNLL columns -----------------------------------------------------------------------------

@dataclass(frozen=True)
class _Layout:
    columns: int  # on every token line
    first_line: int  # the line that set the count, for the error message
    token_column: int  # 1 when the first column numbers the tokens (GermEval 2014, CoNLL-U style)

    def is_comment(self, fields: list[str]) -> bool:
        is_token = len(fields) == self.columns and (self.columns == 1 or is_tag(fields[-1]))
        return _maybe_comment(fields) and not is_token


def _conll_sentences(path: Path, encoding: str, with_targets: bool, keep: Callable) -> tuple[str, list[_Sentence]]:
    lines = [(number, _fields(line) if line.strip() else [])
             for number, line in enumerate(decode_text(path, encoding).splitlines(), start=1)]
    layout = _layout(path, [(n, f) for n, f in lines if f and f[0] != "-DOCSTART-"])
    if with_targets and layout.columns == 1:
        raise DataError(path, "has one column, so no tags", "Write each token's tag after it (e.g. `Paris B-LOC`), "
                        "or use the file for prediction only", where=f"line {layout.first_line}")
    source = "CoNLL columns" + (" (the first numbers the tokens)" if layout.token_column else "")
    return source, keep(_blocks(lines, layout), lambda block: _conll_sentence(path, block, layout, with_targets))


def _layout(path: Path, lines: list[tuple[int, list[str]]]) -> _Layout:
    if not lines:
        raise DataError(path, "the file has no token lines", "Write one token per line with its tag last, "
                        "and a blank line between sentences")
    tokens = [(n, f) for n, f in lines if not _surely_comment(f)] or lines
    first_line, first = tokens[0]
    leading = [fields[0] for _, fields in tokens[:50]]
    numbered = len(first) >= 3 and leading[0] == "1" and all(field.isdigit() for field in leading)
    return _Layout(len(first), first_line, 1 if numbered else 0)


def _blocks(lines: list[tuple[int, list[str]]], layout: _Layout) -> list[list[tuple[int, list[str]]]]:
    """Token lines grouped into sentences: blank lines and -DOCSTART- end a sentence, comments are dropped."""
    blocks: list[list[tuple[int, list[str]]]] = [[]]
    for number, fields in lines:
        if not fields or fields[0] == "-DOCSTART-":
            if blocks[-1]:
                blocks.append([])
        elif not layout.is_comment(fields):
            blocks[-1].append((number, fields))
    return [block for block in blocks if block]


def _conll_sentence(path: Path, block: list[tuple[int, list[str]]], layout: _Layout, with_targets: bool) -> _Sentence:
    for number, fields in block:
        if len(fields) != layout.columns:
            raise _Invalid("a wrong number of columns", path,
                           f"has {len(fields)} column{'s' * (len(fields) != 1)} where the first token line "
                           f"(line {layout.first_line}) has {layout.columns}",
                           "Give every token line the same columns with the tag last, and a blank line between "
                           "sentences (a token containing a space needs tab-separated columns)", where=f"line {number}")
        if not fields[layout.token_column]:
            raise _Invalid("an empty token", path, "the token is empty", "Write the token, or remove the line",
                           where=f"line {number}")
    return _Sentence(tokens=[fields[layout.token_column] for _, fields in block],
                     tags=[fields[-1] for _, fields in block] if with_targets else None,
                     where=f"line {block[0][0]}", token_lines=[number for number, _ in block])


# --- rows: token/tag lists, or text with spans ------------------------------------------------

def _read_rows(path: Path, encoding: str, split: str) -> Table:
    try:
        return read_table(path, encoding=encoding, split=split)
    except DataError as error:
        # Hugging Face writes JSON Lines under a .json name (its conll fixture does).
        if path.suffix.lower() == ".json" and "Extra data" in error.problem:
            return read_jsonl(path, encoding)
        raise


def _row_sentences(table: Table, names: _Columns, with_targets: bool, keep: Callable) -> tuple[str, list[_Sentence]]:
    first = table.rows[0]
    if names.tokens in first:
        needed = [names.tokens] + ([names.tags] if with_targets else [])
        source, build = f"token lists ('{names.tokens}', '{names.tags}')", _token_list_sentence
    elif names.spans in first or (names.text in first and not with_targets):
        needed = [names.text] + ([names.spans] if with_targets else [])
        source, build = f"text with character spans ('{names.text}', '{names.spans}')", _span_sentence
    else:
        raise DataError(table.path, f"has neither '{names.tokens}' (token lists) nor '{names.spans}' (character "
                        "spans)", f"The rows have keys: {_keys(first)}. Set data.tokens=<one of them> (and data.tags), "
                        "or data.text and data.spans", where=table.where[0])
    for column in needed:
        if column not in table.columns:
            raise DataError(table.path, "no such column", f"The rows have keys: {_keys(first)}. "
                            f"Set data.{_config_key(names, column)}=<one of them>", field=column)

    def sentence(item: tuple[dict, str]) -> _Sentence:
        row, where = item
        for column in needed:
            if column not in row:
                raise _Invalid(f"no '{column}'", table.path, "the row has no such key", f"The row has keys: "
                               f"{_keys(row)}. Set data.{_config_key(names, column)}=<one of them>", where=where,
                               field=column)
        return build(table.path, row, where, names, with_targets)

    return source, keep(zip(table.rows, table.where), sentence)


def _keys(row: dict) -> str:
    keys = list(row)
    return ", ".join(map(str, keys[:20])) + (" ..." if len(keys) > 20 else "")


def _config_key(names: _Columns, column: str) -> str:
    return next(key for key in ("tokens", "tags", "text", "spans") if getattr(names, key) == column)


def _token_list_sentence(path: Path, row: dict, where: str, names: _Columns, with_targets: bool) -> _Sentence:
    tokens = _strings(path, row[names.tokens], where, names.tokens, "token")
    for index, token in enumerate(tokens):
        if not token.strip():
            raise _Invalid("an empty token", path, f"token {index + 1} is empty", "Remove it or write the token",
                           where=where, field=names.tokens)
    tags = None
    if with_targets:
        tags = [tag.strip() for tag in _strings(path, row[names.tags], where, names.tags, "tag")]
        if len(tags) != len(tokens):
            raise _Invalid("tokens and tags of different lengths", path,
                           f"{len(tokens)} tokens but {len(tags)} tags", "Give exactly one tag per token",
                           where=where, field=names.tags)
    return _Sentence(tokens, tags, where)


def _strings(path: Path, value, where: str, column: str, what: str) -> list[str]:
    if not isinstance(value, (list, tuple)) or not value:
        raise _Invalid(f"no list of {what}s", path, f"expected a non-empty list of {what}s, got {_kind(value)}",
                       f"Write the {what}s as a JSON list of strings", where=where, field=column)
    for index, item in enumerate(value):
        if not isinstance(item, str):
            fix = "Write them as strings such as 'B-PER' (map tag ids to their names first)" if what == "tag" \
                else "Write every token as a string"
            raise _Invalid(f"a {what} that is not a string", path,
                           f"{what} {index + 1} is {_kind(item)}, not a string", fix, where=where, field=column)
    return list(value)


def _kind(value) -> str:
    return "nothing" if value is None else f"{type(value).__name__} {value!r:.40}"


def _span_sentence(path: Path, row: dict, where: str, names: _Columns, with_targets: bool) -> _Sentence:
    text = row[names.text]
    if not isinstance(text, str) or not text.strip():
        raise _Invalid("an empty text", path, f"expected a non-empty text, got {_kind(text)}", "Fill it in or "
                       "remove the row", where=where, field=names.text)
    spans = _spans(path, row[names.spans], text, where, names.spans) if with_targets else []
    words = _cut(split_words(text), [edge for start, end, _ in spans for edge in (start, end)])
    tags = ["O"] * len(words)
    for start, end, label in spans:
        inside = [i for i, (s, e) in enumerate(words) if start <= s and e <= end]
        if not inside:
            raise _Invalid("a span with no word", path, f"span {start}-{end} '{label}' covers only whitespace",
                           "Give the span the characters of the entity", where=where, field=names.spans)
        tags[inside[0]] = f"B-{label}"
        tags[inside[0] + 1:inside[-1] + 1] = [f"I-{label}"] * (len(inside) - 1)
    return _Sentence([text[s:e] for s, e in words], tags if with_targets else None, where, text=text, offsets=words)


def _spans(path: Path, value, text: str, where: str, column: str) -> list[tuple[int, int, str]]:
    def invalid(problem: str, reason: str = "an invalid span") -> _Invalid:
        return _Invalid(reason, path, problem, 'Write spans as [{"start": 0, "end": 5, "label": "PER"}] with '
                        f"0 <= start < end <= {len(text)} (the text's length)", where=where, field=column)

    if not isinstance(value, list):
        raise invalid(f"expected a list of spans, got {_kind(value)}")
    spans = []
    for number, span in enumerate(value, start=1):
        start, end, label = (span.get("start"), span.get("end"), span.get("label")) if isinstance(span, dict) \
            else tuple(span) if isinstance(span, (list, tuple)) and len(span) == 3 else (None, None, None)
        if not all(isinstance(n, int) and not isinstance(n, bool) for n in (start, end)) \
                or not 0 <= start < end <= len(text):
            raise invalid(f"span {number} {span!r} is not a range of the text")
        if not isinstance(label, str) or not label.strip():
            raise invalid(f"span {number} has no label")
        spans.append((start, end, label.strip()))
    spans.sort()
    for (a_start, a_end, a_label), (b_start, b_end, b_label) in zip(spans, spans[1:]):
        if b_start < a_end:
            raise _Invalid("overlapping spans", path, f"span {a_start}-{a_end} '{a_label}' "
                           f"({text[a_start:a_end]!r}) overlaps span {b_start}-{b_end} '{b_label}' "
                           f"({text[b_start:b_end]!r})", "Nested or overlapping entities cannot be tagged: keep "
                           "one of them", where=where, field=column)
    return spans


def _cut(words: list[tuple[int, int]], edges: list[int]) -> list[tuple[int, int]]:
    """Split words where a span starts or ends inside them."""
    pieces = []
    for start, end in words:
        cuts = sorted({edge for edge in edges if start < edge < end})
        pieces += list(zip([start, *cuts], [*cuts, end]))
    return pieces


# --- tags ---------------------------------------------------------------------------------------

def _check_tag_syntax(sentence: _Sentence, path: Path, column: str) -> _Sentence:
    for index, tag in enumerate(sentence.tags):
        if not is_tag(tag):
            raise _Invalid("a tag that is not O or PREFIX-TYPE", path, f"'{tag}' is not a tag",
                           "Write tags as O or PREFIX-TYPE such as B-PER and I-PER (BIO; IOB1, IO, BIOES and "
                           "BILOU are read too)", where=sentence.locate(index), field=column)
    return sentence


def _bio(sentence: _Sentence, path: Path, column: str, scheme: str, invalid_tags: str, repaired: Counter) -> _Sentence:
    bio, invalid = to_bio(sentence.tags, lenient=scheme in LENIENT_SCHEMES)
    if invalid and invalid_tags == "error":
        index = invalid[0]
        tag, kind = sentence.tags[index], split_tag(sentence.tags[index])[1]
        raise _Invalid("an I- tag with no B- before it", path, f"'{tag}' has no 'B-{kind}' before it",
                       f"Write 'B-{kind}' where the entity begins (token_classification.invalid_tags=repair reads "
                       f"it as B-{kind})", where=sentence.locate(index), field=column)
    repaired.update(sentence.tags[index] for index in invalid)
    sentence.tags = bio
    return sentence


def _repair_warning(path: Path, repaired: Counter) -> str:
    total = sum(repaired.values())
    if len(repaired) == 1:
        tag = next(iter(repaired))
        kind = split_tag(tag)[1]
        what = f"{total} tag{'s' * (total != 1)} '{tag}' with no 'B-{kind}' before them were read as 'B-{kind}'"
    else:
        counts = ", ".join(f"{n} '{tag}'" for tag, n in repaired.most_common())
        what = f"{total} I- tags with no B- of their type before them were read as B- ({counts})"
    return f"{path.name}: {what} (token_classification.invalid_tags=error makes this an error)"


# --- the result ---------------------------------------------------------------------------------

def _examples(path: Path, sentences: list[_Sentence], with_targets: bool, skipped: Counter) -> Examples:
    columns: dict[str, list] = {"tokens": [], "offsets": [], "text": []} | ({"tags": []} if with_targets else {})
    for sentence in sentences:
        text, offsets = (sentence.text, sentence.offsets) if sentence.text is not None \
            else tokens_to_text(sentence.tokens)
        columns["tokens"].append(sentence.tokens)
        columns["offsets"].append(offsets)
        columns["text"].append(text)
        if with_targets:
            columns["tags"].append(sentence.tags)
    return Examples(path, columns, [sentence.where for sentence in sentences], skipped)


def _summary(path: Path, source: str, examples: Examples, scheme: str | None) -> str:
    counts = f"{_count(len(examples), 'sentence')}, {_count(sum(map(len, examples.columns['tokens'])), 'token')}"
    if scheme is None:
        return f"{path.name}: {source}, {counts}"
    types = tag_types(examples.columns["tags"])
    shown = ", ".join(types[:12]) + (f" and {len(types) - 12} more" if len(types) > 12 else "")
    scheme = scheme or "BIO from spans"
    read_as = "" if scheme in ("BIO", "BIO from spans", "O only") else ", read as BIO"
    return f"{path.name}: {source}, {counts}, tags {scheme}{read_as}, types {shown or '(none)'}"


def _count(n: int, what: str) -> str:
    return f"{n:,} {what}{'s' * (n != 1)}"


def _doubts(path: Path, sentences: list[_Sentence], with_targets: bool) -> list[str]:
    """Warnings about a file that parsed but probably not as meant."""
    doubts = []
    longest = max(sentences, key=lambda s: len(s.tokens))
    if len(longest.tokens) > _LONG_SENTENCE:
        doubts.append(f"{path.name}: the sentence at {longest.where} has {len(longest.tokens):,} tokens; are blank "
                      "lines missing between sentences?")
    if with_targets and all(tag == "O" for s in sentences for tag in s.tags):
        doubts.append(f"{path.name}: every tag is O, so the file has no entities (in CoNLL files the tags are "
                      "read from the last column)")
    return doubts
