"""Augmentation: each text operation does what it says, synonyms from a WordNet database and from
embeddings, copies added to the training split only, and evaluation data (texts and images) never
augmented."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest
import torch

from tailor.data.examples import Examples
from tailor.data.text_augment import change, embedding_synonyms, wordnet_synonyms

TEXT = "the quick brown fox jumps over the lazy dog today"


def test_delete_drops_words_in_order_and_keeps_at_least_one():
    shorter = change(TEXT, "delete", 0.3, random.Random(0)).split()
    assert 0 < len(shorter) < len(TEXT.split())
    it = iter(TEXT.split())
    assert all(word in it for word in shorter)  # a subsequence: order kept
    assert len(change("hello", "delete", 0.5, random.Random(3)).split()) == 1


def test_swap_keeps_the_words_and_changes_their_order():
    swapped = change(TEXT, "swap", 0.2, random.Random(1))
    assert Counter(swapped.split()) == Counter(TEXT.split()) and swapped != TEXT


def test_chars_mistypes_about_rate_of_the_words():
    typed = change(TEXT, "chars", 0.2, random.Random(2)).split()
    changed = [(a, b) for a, b in zip(TEXT.split(), typed) if a != b]
    assert 1 <= len(changed) <= 2 and all(abs(len(a) - len(b)) <= 1 for a, b in changed)


def test_synonym_replaces_words_that_have_synonyms_keeping_capitals():
    source = {"quick": ["fast"], "lazy": ["idle"]}.get
    replaced = change("The Quick fox and the lazy dog", "synonym", 0.3, random.Random(0), lambda w: source(w) or [])
    assert replaced == "The Fast fox and the idle dog"


def test_wordnet_synonyms_come_from_every_sense_in_the_database(tmp_path):
    # A two-synset WordNet in its own format (wndb): data lines at the byte offsets the index gives.
    synsets = {"noun": ["film 1 movie 0 picture 0", "flick 0 movie 0"], "verb": [], "adj": ["glad(a) 0 happy 0"],
               "adv": []}
    index: dict[str, dict[str, list[int]]] = {}
    for pos, entries in synsets.items():
        data, offset = b"  1 This software and database is being provided\n", 0
        for words in entries:
            offset = len(data)
            parts = words.split()
            line = f"{offset:08d} 05 {pos[0]} {len(parts) // 2:02x} {words} 000 | a gloss\n".encode()
            data += line
            for word in parts[::2]:
                index.setdefault(pos, {}).setdefault(word.split("(")[0], []).append(offset)
        (tmp_path / f"data.{pos}").write_bytes(data)
        lines = [f"{w} {pos[0]} {len(o)} 0 {len(o)} 0 " + " ".join(f"{x:08d}" for x in o) for w, o in
                 sorted(index.get(pos, {}).items())]
        (tmp_path / f"index.{pos}").write_text("  1 licence header\n" + "".join(line + "\n" for line in lines))
    synonyms = wordnet_synonyms(tmp_path)
    assert synonyms("movie") == ["film", "flick", "picture"]
    assert synonyms("happy") == ["glad"] and synonyms("unknown") == []


def test_wordnet_missing_is_a_clear_error(tmp_path):
    from tailor.errors import ConfigError

    with pytest.raises(ConfigError, match="install Debian's `wordnet-base` package"):
        wordnet_synonyms(tmp_path)


def test_embedding_synonyms_are_the_nearest_whole_words(tiny_bert):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    vocab = tokenizer.get_vocab()
    embeddings = torch.randn(len(vocab), 16, generator=torch.Generator().manual_seed(0))
    embeddings[vocab["wonderful"]] = embeddings[vocab["great"]] + 0.01
    synonyms = embedding_synonyms(tokenizer, embeddings, {"great", "zzzz-not-a-word"})
    assert synonyms("great")[0] == "wonderful" and len(synonyms("great")) == 5
    assert synonyms("zzzz-not-a-word") == []


def _texts(n: int) -> Examples:
    texts = [f"the movie was really {w} today" for w in ("great", "awful", "lovely", "boring")] * (n // 4)
    labels = ["positive", "negative"] * (n // 2)
    return Examples(Path("train.csv"), {"text": texts, "label": labels}, [f"row {i + 2}" for i in range(n)])


def test_copies_are_added_to_the_training_split_and_evaluation_data_is_never_augmented(tiny_bert):
    from tailor.config import load_config
    from tailor.tasks import get_task, resolve_config

    task = get_task("text-classification")
    plain = resolve_config(load_config(None, base={"task": "text-classification", "model": str(tiny_bert),
                                                   "data": {"train": "x.csv"}}), task)
    augmenting = resolve_config(load_config(None, base={
        "task": "text-classification", "model": str(tiny_bert), "data": {"train": "x.csv"},
        "text_classification": {"augment": {"copies": 2, "rate": 0.3}}}), task)
    tokenizer = task.processor(str(tiny_bert), plain)
    examples, labels = _texts(8), ["negative", "positive"]
    trained = task.encode(examples, tokenizer, augmenting, labels, training=True).dataset.to_dict()
    original = task.encode(examples, tokenizer, plain, labels, training=True).dataset.to_dict()
    assert len(trained["input_ids"]) == 3 * len(examples)
    assert trained["input_ids"][:8] == original["input_ids"]  # the originals first, unchanged
    assert trained["labels"] == original["labels"] * 3
    assert trained["input_ids"][8:] != original["input_ids"] * 2  # the copies are changed
    evaluated = task.encode(examples, tokenizer, augmenting, labels).dataset.to_dict()  # training=False: eval, test
    assert evaluated["input_ids"] == original["input_ids"]


def test_evaluation_images_are_never_augmented(tmp_path, tiny_efficientnet):
    from conftest import colour_images
    from tailor.config import load_config
    from tailor.tasks import get_task, resolve_config

    colour_images(tmp_path / "imgs", {"red": 2, "blue": 2}, seed=1)
    task = get_task("image-classification")
    cfg = resolve_config(load_config(None, base={"task": "image-classification", "model": str(tiny_efficientnet),
                                                 "data": {"train": str(tmp_path / "imgs")}}), task)
    assert cfg.options.augment
    processor = task.processor(str(tiny_efficientnet), cfg)
    examples = task.read(tmp_path / "imgs", cfg)
    labels = sorted(set(examples.columns["label"]))
    collate = task.collator(processor, cfg)

    def pixels(training: bool):
        rows = task.encode(examples, processor, cfg, labels, training=training).dataset
        return collate([rows[i] for i in range(len(rows))])["pixel_values"]

    torch.manual_seed(0)
    first = pixels(False)
    torch.manual_seed(1)
    assert torch.equal(first, pixels(False))  # evaluation: the same pixels whatever the random state
    torch.manual_seed(0)
    drawn = pixels(True)
    torch.manual_seed(1)
    assert not torch.equal(drawn, pixels(True))  # training: drawn anew
