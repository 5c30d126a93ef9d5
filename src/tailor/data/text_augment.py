"""Text augmentation of the training split (text_classification.augment): copies of each training
text changed by one random operation, as EDA does (Wei & Zou 2019): words deleted or swapped,
characters mistyped, or words replaced by synonyms. Evaluation and test texts are never changed.

Synonyms come from WordNet (Debian's `wordnet-base` files: a synonym shares a sense, never an
antonym) or from the nearest neighbours of a word in the model's own input embeddings
(no files needed, but antonyms sit close there: MiniLM's neighbours of "good" include "bad", of
"happy" "unhappy", so not for polarity labels)."""

from __future__ import annotations

import random
import re
import string
from pathlib import Path
from typing import Callable

from tailor.errors import ConfigError

WORDNET_DIR = Path("/usr/share/wordnet")  # where Debian's wordnet-base puts the database
NEIGHBOURS = 5  # embedding neighbours a synonym is drawn from
_WORD = re.compile(r"[A-Za-z]+")


def augmented_copies(texts: list[str], options, seed: int, synonyms: Callable[[str], list[str]] | None) -> list[list[str]]:
    """`options.copies` lists of texts, each the input texts changed by one random operation per text."""
    copies = []
    for copy in range(options.copies):
        rng = random.Random(f"{seed}-{copy}")
        copies.append([change(text, rng.choice(options.ops), options.rate, rng, synonyms) for text in texts])
    return copies


def change(text: str, op: str, rate: float, rng: random.Random, synonyms=None) -> str:
    """The text with one operation applied to about `rate` of its words (at least one)."""
    words = text.split()
    if not words:
        return text
    n = max(1, round(rate * len(words)))
    if op == "delete":
        kept = [w for w in words if rng.random() >= rate]
        words = kept or [rng.choice(words)]
    elif op == "swap":
        for _ in range(n if len(words) > 1 else 0):
            i, j = rng.sample(range(len(words)), 2)
            words[i], words[j] = words[j], words[i]
    elif op == "chars":
        for i in rng.sample(range(len(words)), min(n, len(words))):
            words[i] = _mistype(words[i], rng)
    elif op == "synonym":
        replaceable = [i for i, w in enumerate(words) if _WORD.fullmatch(w) and synonyms(w.lower())]
        for i in rng.sample(replaceable, min(n, len(replaceable))):
            words[i] = _same_case(rng.choice(synonyms(words[i].lower())), words[i])
    return " ".join(words)


def _mistype(word: str, rng: random.Random) -> str:
    """One character dropped, doubled, swapped with its neighbour or replaced by a random letter."""
    if len(word) < 2:
        return word
    i = rng.randrange(len(word) - 1)
    edit = rng.choice(("drop", "double", "swap", "replace"))
    if edit == "drop":
        return word[:i] + word[i + 1:]
    if edit == "double":
        return word[:i] + word[i] + word[i:]
    if edit == "swap":
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    return word[:i] + rng.choice(string.ascii_lowercase) + word[i + 1:]


def _same_case(word: str, like: str) -> str:
    return word.capitalize() if like[:1].isupper() else word


def wordnet_synonyms(folder: Path | None) -> Callable[[str], list[str]]:
    """Single-word synonyms of a word from WordNet's database files (every sense's words): each
    index.POS line lists a lemma's synset offsets last; the data.POS line at such a byte offset lists
    the synset's words after a hexadecimal count (the wndb(5WN) format, unchanged since WordNet 3.0).
    Read directly: nltk's reader wants a `lexnames` file that Debian's package does not ship."""
    folder = Path(folder) if folder else WORDNET_DIR
    parts = ("noun", "verb", "adj", "adv")
    if not all((folder / f"index.{pos}").is_file() and (folder / f"data.{pos}").is_file() for pos in parts):
        raise ConfigError(f"text_classification.augment.synonyms=wordnet: no WordNet database (its index.* and "
                          f"data.* files) in {folder}; install Debian's `wordnet-base` package (apt install wordnet-base) or "
                          "set text_classification.augment.wordnet_dir, or use synonyms: embeddings")
    senses: dict[str, list[tuple[str, int]]] = {}
    for pos in parts:
        with open(folder / f"index.{pos}", encoding="utf-8") as index:
            for line in index:
                if line.startswith(" "):  # the licence header
                    continue
                fields = line.split()
                count = int(fields[2])
                senses.setdefault(fields[0], []).extend((pos, int(o)) for o in fields[len(fields) - count:])
    data = {pos: open(folder / f"data.{pos}", "rb") for pos in parts}  # noqa: SIM115 (read while training lasts)
    cache: dict[str, list[str]] = {}

    def synset_words(pos: str, offset: int) -> list[str]:
        data[pos].seek(offset)
        fields = data[pos].readline().decode("utf-8").split()
        count = int(fields[3], 16)
        return [re.sub(r"\(.*\)$", "", fields[4 + 2 * i]).lower() for i in range(count)]

    def synonyms(word: str) -> list[str]:
        if word not in cache:
            found = {w for pos, offset in senses.get(word, []) for w in synset_words(pos, offset)}
            cache[word] = sorted(w for w in found if w != word and w.isalpha())
        return cache[word]

    return synonyms


def embedding_synonyms(tokenizer, embeddings, words: set[str]) -> Callable[[str], list[str]]:
    """The nearest whole words of each of `words` by cosine similarity of the model's input embeddings."""
    import torch

    vocab = tokenizer.get_vocab()
    candidates = [w for w in vocab if w.isalpha() and len(w) > 2]
    if not candidates:
        return lambda word: []
    table = torch.nn.functional.normalize(embeddings[[vocab[w] for w in candidates]].float(), dim=-1)
    asked = sorted(w for w in words if w in vocab)
    found: dict[str, list[str]] = {}
    for start in range(0, len(asked), 1024):  # a block of words at a time: memory stays small
        block = asked[start:start + 1024]
        queries = torch.nn.functional.normalize(embeddings[[vocab[w] for w in block]].float(), dim=-1)
        nearest = (queries @ table.T).topk(NEIGHBOURS + 1, dim=-1).indices
        for word, row in zip(block, nearest.tolist()):
            found[word] = [candidates[i] for i in row if candidates[i] != word][:NEIGHBOURS]
    return lambda word: found.get(word, [])


def words_of(texts: list[str]) -> set[str]:
    return {w.lower() for text in texts for w in _WORD.findall(text)}
