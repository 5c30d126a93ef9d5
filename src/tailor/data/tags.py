"""Tags and words: tag schemes to BIO, words of raw text, and entities from tags with character
offsets. Shared by the token classification reader, the task and its metrics."""

from __future__ import annotations

import re
import unicodedata
from typing import Iterable

from tailor.data.scripts import CJK_CHARACTERS, CJK_PUNCTUATION

_TAG = re.compile(r"([BIESLU])-(\S.*)")
_STARTS = ("B", "S", "U")  # prefixes that begin an entity; I, E and L continue one
LENIENT_SCHEMES = ("IO", "IOB1")  # an I- tag after O or another type begins an entity: the scheme, not an error
# Single characters joined without a space: CJK text has none, its punctuation included (and the
# full-width forms of letters and digits).
_NO_SPACE = re.compile(f"[{CJK_CHARACTERS}{CJK_PUNCTUATION}\uff00-\uffef]")


def split_tag(tag: str) -> tuple[str, str]:
    """("B", "PER") for "B-PER", ("O", "") for "O"; ValueError for anything else."""
    if tag == "O":
        return "O", ""
    match = _TAG.fullmatch(tag)
    if match is None:
        raise ValueError(f"'{tag}' is not O or PREFIX-TYPE")
    return match.group(1), match.group(2)


def is_tag(text: str) -> bool:
    return text == "O" or _TAG.fullmatch(text) is not None


def tag_types(tags: Iterable[str | list[str]]) -> list[str]:
    """The sorted entity types of tags, given flat or as one list per sentence."""
    found = set()
    for item in tags:
        for tag in [item] if isinstance(item, str) else item:
            found.add(split_tag(tag)[1])
    return sorted(found - {""})


def bio_labels(types: Iterable[str]) -> list[str]:
    """The label set of a BIO tagger: O, then B-/I- of each type."""
    return ["O"] + [f"{prefix}-{kind}" for kind in sorted(set(types)) for prefix in ("B", "I")]


def detect_scheme(sequences: Iterable[list[str]]) -> str:
    """Name the tagging scheme of a file: BIO, IOB1, IO, BIOES, BILOU, "BIO with S- tags", "O only"."""
    prefixes: set[str] = set()
    b_only_splits, i_begins = True, False  # IOB1: B- only between two entities of the same type
    for tags in sequences:
        previous = ""
        for tag in tags:
            prefix, kind = split_tag(tag)
            prefixes.add(prefix)
            b_only_splits &= prefix != "B" or previous == kind
            i_begins |= prefix == "I" and previous != kind
            previous = kind
    entity = prefixes - {"O"}
    if not entity:
        return "O only"
    if "I" in entity and not entity & {"B", "S", "U"}:
        return "IO"
    if entity == {"B", "I"} and b_only_splits and i_begins:
        return "IOB1"
    if entity <= {"B", "I"}:
        return "BIO"
    for name, ends in (("BIOES", {"E", "S"}), ("BILOU", {"L", "U"})):
        if ends <= entity <= {"B", "I"} | ends:
            return name
    return f"BIO with {', '.join(sorted(p + '-' for p in entity - {'B', 'I'}))} tags"


def to_bio(tags: list[str], *, lenient: bool = False) -> tuple[list[str], list[int]]:
    """Tags of any scheme -> BIO, and the positions of I- (E-, L-) tags that had no B-/I- of their
    type before them, read as B-. lenient=True (IO, IOB1 files): such tags begin entities by design
    and are not reported."""
    bio, invalid, previous = [], [], ""
    for position, tag in enumerate(tags):
        prefix, kind = split_tag(tag)
        if prefix == "O":
            bio.append("O")
        elif prefix in _STARTS or previous != kind:
            if prefix not in _STARTS and not lenient:
                invalid.append(position)
            bio.append(f"B-{kind}")
        else:
            bio.append(f"I-{kind}")
        previous = kind
    return bio, invalid


def split_words(text: str) -> list[tuple[int, int]]:
    """Word spans of raw text, cut the way tagged corpora usually are: at spaces; punctuation at the
    edges of a word is a word of its own (`Lima.` -> `Lima` `.`) but inside it stays (`U.S.`, `2-3`,
    `don't`, `e-mail`); every CJK character is a word (Chinese and Japanese need no spaces)."""
    spans = []
    for chunk in re.finditer(r"\S+", text):
        for piece in _CJK_PIECE.finditer(chunk.group()):
            start, end = chunk.start() + piece.start(), chunk.start() + piece.end()
            spans += _peeled(text, start, end)
    return spans


# Ideographs and kana: each is a word of its own (Chinese and Japanese need no spaces; Korean, which
# writes spaces between words, keeps its words whole).
_CJK_PIECE = re.compile(f"[{CJK_CHARACTERS}]|[^{CJK_CHARACTERS}]+")


def _peeled(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """(start, end) of the word, with each punctuation mark at its edges split off. A final period
    stays on a word with a period before a letter inside (an abbreviation: U.S., e.g.)."""
    def punct(i: int) -> bool:
        return unicodedata.category(text[i]).startswith("P")

    if all(punct(i) for i in range(start, end)):
        return [(start, end)]  # a run of punctuation (..., --) is one word
    head = []
    while punct(start):
        head.append((start, start + 1))
        start += 1
    tail = []
    while punct(end - 1) and not (text[end - 1] == "." and re.search(r"\.\w", text[start:end - 1])):
        tail.insert(0, (end - 1, end))
        end -= 1
    return [*head, (start, end), *tail]


def tokens_to_text(tokens: list[str]) -> tuple[str, list[tuple[int, int]]]:
    """Join tokens with single spaces (none between two single CJK characters) and return the text
    with each token's (start, end), so that text[start:end] == token."""
    parts, offsets, position = [], [], 0
    for index, token in enumerate(tokens):
        if index and not (_no_space(tokens[index - 1]) and _no_space(token)):
            parts.append(" ")
            position += 1
        parts.append(token)
        offsets.append((position, position + len(token)))
        position += len(token)
    return "".join(parts), offsets


def spaced_words(tokens: list[str]) -> list[str]:
    """The tokens with the space that tokens_to_text puts before them: " world" after "hello", none
    between two Chinese characters. A byte-level BPE reads a word's leading space as part of it."""
    text, offsets = tokens_to_text(tokens)
    return [text[previous_end:end] for previous_end, (_, end) in zip([0] + [e for _, e in offsets], offsets)]


def _no_space(token: str) -> bool:
    return len(token) == 1 and _NO_SPACE.match(token) is not None


def entities_from_tags(tags: list[str], offsets: list[tuple[int, int]], text: str,
                       scores: list[float] | None = None) -> list[dict]:
    """BIO tags of words -> entities {"start", "end", "text", "label"[, "score"]} with character offsets
    into text. An I- tag after O or another type starts an entity (lenient, like seqeval's default)."""
    groups: list[tuple[str, list[int]]] = []
    previous = ""
    for index, tag in enumerate(tags):
        prefix, kind = split_tag(tag)
        if prefix != "O" and (prefix in _STARTS or previous != kind):
            groups.append((kind, [index]))
        elif prefix != "O":
            groups[-1][1].append(index)
        previous = kind
    entities = []
    for label, words in groups:
        start, end = offsets[words[0]][0], offsets[words[-1]][1]
        entity = {"start": start, "end": end, "text": text[start:end], "label": label}
        if scores is not None:
            entity["score"] = round(sum(scores[i] for i in words) / len(words), 4)
        entities.append(entity)
    return entities
