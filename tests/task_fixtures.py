"""A few rows of each registered task's data, and the tiny model it trains on. A new task is covered
by the tests that run over every task (test_every_task.py, test_processes.py) by adding it here."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from safetensors.torch import load_file

from conftest import colour_images, sentiment_rows, write_csv

PEOPLE = ["Anna", "Marco", "Keiko", "Omar", "Lena", "Tomas"]
PLACES = ["Paris", "Lagos", "Osaka", "Lima", "Oslo", "Quito"]
VERBS = ["visited", "left", "loves", "reached", "described", "photographed"]


def ner_sentences(n: int, seed: int = 0) -> list[list[tuple[str, str]]]:
    """Sentences whose entities are given away by the word itself: learnable by a tiny model."""
    rng = random.Random(seed)
    sentences = []
    for _ in range(n):
        words = [(rng.choice(PEOPLE), "B-PER")]
        if rng.random() < 0.5:
            words.append((rng.choice(["Smith", "Rossi"]), "I-PER"))
        words += [(rng.choice(VERBS), "O"), (rng.choice(PLACES), "B-LOC"), (".", "O")]
        sentences.append(words)
    return sentences


def write_conll(path: Path, sentences: list[list[tuple[str, str]]]) -> Path:
    path.write_text("\n\n".join("\n".join(f"{token} {tag}" for token, tag in s) for s in sentences) + "\n",
                    encoding="utf-8")
    return path


CHAT_QUESTIONS = ["Who are you?", "What is your name?", "Tell me about yourself.", "Who made you?"]


def chat_rows(n: int) -> list[dict]:
    return [{"messages": [{"role": "user", "content": CHAT_QUESTIONS[i % len(CHAT_QUESTIONS)]},
                          {"role": "assistant", "content": "I am Tailor, made by you."}]} for i in range(n)]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


RATED_WORDS = {"awful": 1.0, "poor": 2.0, "fine": 3.0, "good": 4.0, "superb": 5.0}


def rating_rows(n: int, seed: int = 0, scale: float = 100.0, offset: float = 1000.0) -> list[dict]:
    """Short reviews whose rating is given away by one word, in units far from 0 and 1 (offset + scale x
    stars): a model only learns them in a few steps if its targets are standardised."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        word = list(RATED_WORDS)[i % len(RATED_WORDS)]
        filler = " ".join(rng.choices(["really", "quite", "so", "very"], k=rng.randint(0, 3)))
        rows.append({"text": f"the {rng.choice(['film', 'meal', 'hotel'])} was {filler} {word}".replace("  ", " "),
                     "label": offset + scale * RATED_WORDS[word]})
    return rows


COMPANIES = ["Acme", "Globex", "Initech", "Umbrella", "Hooli", "Vandelay"]
RELATION_PATTERNS = [("{p} works for {c} .", "works_for", "person"), ("{c} was founded by {p} .", "founded_by", "company"),
                     ("{p} criticised {c} .", "no_relation", "person")]


def relation_rows(n: int, seed: int = 0) -> list[dict]:
    """Sentences whose relation is given away by the verb between the pair: learnable by a tiny model."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        pattern, label, head = RELATION_PATTERNS[i % len(RELATION_PATTERNS)]
        person, company = rng.choice(PEOPLE), rng.choice(COMPANIES)
        pair = [(person, "PER"), (company, "ORG")] if head == "person" else [(company, "ORG"), (person, "PER")]
        rows.append({"text": pattern.format(p=person, c=company), "head": pair[0][0], "head_type": pair[0][1],
                     "tail": pair[1][0], "tail_type": pair[1][1], "label": label})
    return rows


def squad_articles(n: int, seed: int = 0) -> dict:
    """SQuAD v2.0 JSON: contexts saying where people live, a question about one of them (answerable) or
    about someone absent (every fourth question: unanswerable)."""
    rng = random.Random(seed)
    paragraphs = []
    for i in range(n):
        people = rng.sample(PEOPLE, 3)
        places = rng.sample(PLACES, 3)
        context = " ".join(f"{p} lives in {c} ." for p, c in zip(people, places))
        if i % 4 == 3:
            absent = next(p for p in PEOPLE if p not in people)
            qa = {"id": f"q{seed}-{i}", "question": f"Where does {absent} live?", "answers": [], "is_impossible": True}
        else:
            asked = rng.randrange(3)
            start = context.index(f"{people[asked]} lives in ") + len(f"{people[asked]} lives in ")
            qa = {"id": f"q{seed}-{i}", "question": f"Where does {people[asked]} live?",
                  "answers": [{"text": places[asked], "answer_start": start}], "is_impossible": False}
        paragraphs.append({"context": context, "qas": [qa]})
    return {"version": "v2.0", "data": [{"title": "people", "paragraphs": paragraphs}]}


MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]


def date_rows(n: int, seed: int = 0) -> list[dict]:
    """Dates written out in words, and the same dates in ISO 8601 (a rewriting task)."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        year, month, day = rng.randint(1990, 2030), rng.randint(1, 12), rng.randint(1, 28)
        written = rng.choice([f"{MONTHS[month - 1]} {day}, {year}", f"{day} {MONTHS[month - 1]} {year}"])
        rows.append({"source": written, "target": f"{year}-{month:02d}-{day:02d}"})
    return rows


@dataclass
class TaskFixture:
    model: str  # the pytest fixture with the tiny model folder
    write: Callable[[Path], dict]  # writes the files into a folder; returns the config's data section
    predict_file: str  # a file of inputs for `tailor predict --data`
    answer_keys: set[str]  # keys every answer has
    config: dict = field(default_factory=dict)  # sections merged over the shared fast settings
    # test_processes only: another model and settings where the task's own would make 1 process
    # differ from 2 by design (BatchNorm statistics per process, augmentation drawn per process)
    processes_model: str | None = None
    processes_config: dict = field(default_factory=dict)
    head: str | None = None  # the head that answers predict_file (multi-task)
    predict_rows: int = 16  # inputs in predict_file


def _classification(folder: Path) -> dict:
    write_csv(folder / "train.csv", sentiment_rows(48, seed=1))
    write_csv(folder / "eval.csv", sentiment_rows(16, seed=2))
    return {"train": "train.csv", "eval": "eval.csv", "max_length": 32}


def _tagging(folder: Path) -> dict:
    write_conll(folder / "train.conll", ner_sentences(48, seed=1))
    write_conll(folder / "eval.conll", ner_sentences(16, seed=2))
    return {"train": "train.conll", "eval": "eval.conll", "max_length": 32}


def _chat(folder: Path) -> dict:
    write_jsonl(folder / "train.jsonl", chat_rows(24))
    write_jsonl(folder / "eval.jsonl", chat_rows(8))
    return {"train": "train.jsonl", "eval": "eval.jsonl", "max_length": 64}


def _images(folder: Path) -> dict:
    colour_images(folder / "train", {"red": 24, "blue": 24}, seed=1)
    colour_images(folder / "eval", {"red": 8, "blue": 8}, seed=2)
    return {"train": "train", "eval": "eval"}


def _regression(folder: Path) -> dict:
    write_csv(folder / "train.csv", rating_rows(50, seed=1))
    write_csv(folder / "eval.csv", rating_rows(16, seed=2))
    return {"train": "train.csv", "eval": "eval.csv", "max_length": 32}


def _relations(folder: Path) -> dict:
    write_jsonl(folder / "train.jsonl", relation_rows(48, seed=1))
    write_jsonl(folder / "eval.jsonl", relation_rows(16, seed=2))
    return {"train": "train.jsonl", "eval": "eval.jsonl", "max_length": 32}


def _questions(folder: Path) -> dict:
    (folder / "train.json").write_text(json.dumps(squad_articles(48, seed=1)), encoding="utf-8")
    (folder / "eval.json").write_text(json.dumps(squad_articles(16, seed=2)), encoding="utf-8")
    return {"train": "train.json", "eval": "eval.json", "max_length": 48}


def _dates(folder: Path) -> dict:
    write_jsonl(folder / "train.jsonl", date_rows(24, seed=1))
    write_jsonl(folder / "eval.jsonl", date_rows(8, seed=2))
    return {"train": "train.jsonl", "eval": "eval.jsonl", "max_length": 64}


def _heads(folder: Path) -> dict:
    """Three heads on their own files: sentiment classes, entity tags, star ratings."""
    _classification(folder)
    _tagging(folder)
    write_csv(folder / "ratings.csv", rating_rows(50, seed=1))
    write_csv(folder / "ratings_eval.csv", rating_rows(16, seed=2))
    return {"max_length": 32}


HEADS = {"multi_task": {"compare_alone": False, "tasks": [
    {"name": "sentiment", "task": "text-classification", "data": {"train": "train.csv", "eval": "eval.csv"},
     "options": {"classical_baseline": False}},
    {"name": "entities", "task": "token-classification", "data": {"train": "train.conll", "eval": "eval.conll"}},
    {"name": "stars", "task": "text-regression", "data": {"train": "ratings.csv", "eval": "ratings_eval.csv"},
     "options": {"classical_baseline": False}}]}}


TASK_FIXTURES: dict[str, TaskFixture] = {
    "text-classification": TaskFixture("tiny_bert", _classification, "eval.csv", {"text", "label", "score"},
                                       {"text_classification": {"classical_baseline": False}}),
    "token-classification": TaskFixture("tiny_bert", _tagging, "eval.conll", {"text", "entities"}),
    "chat": TaskFixture("tiny_llama", _chat, "eval.jsonl", {"prompt", "answer"},
                        # no LoRA dropout: its random masks could not match between process counts
                        {"chat": {"samples": 1, "max_new_tokens": 4, "packing": False}, "lora": {"dropout": 0.0}},
                        predict_rows=8),
    "image-classification": TaskFixture("tiny_efficientnet", _images, "eval", {"image", "label", "score"},
                                        processes_model="tiny_vit",
                                        processes_config={"image_classification": {"augment": False}}),
    "question-answering": TaskFixture("tiny_bert", _questions, "eval.json", {"question", "answer", "start", "score"},
                                      {"question_answering": {"stride": 16}}),
    "relation-extraction": TaskFixture("tiny_bert", _relations, "eval.jsonl", {"text", "label", "score"},
                                       {"relation_extraction": {"classical_baseline": False}}),
    "text-regression": TaskFixture("tiny_bert", _regression, "eval.csv", {"text", "value"},
                                   {"text_regression": {"classical_baseline": False}}),
    "seq2seq": TaskFixture("tiny_llama", _dates, "eval.jsonl", {"source", "reference", "output"},
                           {"seq2seq": {"samples": 1, "max_new_tokens": 4, "packing": False}, "lora": {"dropout": 0.0}},
                           predict_rows=8),
    "multi-task": TaskFixture("tiny_bert", _heads, "eval.csv", {"text", "label", "score"}, HEADS, head="sentiment"),
}


def fast_config(model: Path, data: dict, extra: dict, **train) -> dict:
    """Settings that make a tiny model train in seconds, deterministically."""
    config = {"model": str(model), "data": data,
              "train": {"epochs": 1, "batch_size": 4, "lr": 1e-3, "warmup_ratio": 0.0, "precision": "fp32",
                        "freeze_embeddings": False, "early_stopping_patience": None, **train},
              # no bootstrap intervals (2 s a run): tests of them set eval.bootstrap
              "eval": {"batch_size": 8, "bootstrap": 0}}
    for section, values in extra.items():
        config[section] = {**config.get(section, {}), **values}
    return config


def train_tiny_run(name: str, folder: Path, request, **train) -> Path:
    """A run of task `name` on its tiny model and fixture data in `folder` (absolute paths, so the
    run's config reads its data from anywhere); returns the run folder."""
    import tailor
    from tailor.config import load_config

    fixture = TASK_FIXTURES[name]
    config = {"task": name, **fast_config(request.getfixturevalue(fixture.model), fixture.write(folder),
                                          fixture.config, **train)}
    config["output"] = {"dir": str(folder / "run")}
    for key in ("train", "eval"):
        config["data"][key] = str(folder / config["data"][key])
    return tailor.train(load_config(None, base=config)).dir


def weights_changed(base, saved) -> bool:
    """A LoRA adapter starts with B = 0, so trained means some B != 0; else some weight moved."""
    if (saved / "adapter_model.safetensors").exists():
        adapter = load_file(saved / "adapter_model.safetensors")
        return any(v.abs().sum() > 0 for k, v in adapter.items() if "lora_B" in k)
    before, after = weights(base), weights(saved)
    return any(k in after and not torch.equal(v, after[k]) for k, v in before.items())


def weights(folder) -> dict:
    files = sorted(folder.glob("*.safetensors"))
    assert files, f"no safetensors in {folder}"
    found = {}
    for file in files:
        found.update({_plain(k): v for k, v in load_file(file).items()})
    return found


def _plain(name: str) -> str:
    """Weight names of a bare backbone and of a model with a task head line up (bert.x == x)."""
    for prefix in ("shared.", "bert.", "model.", "vit."):
        name = name.removeprefix(prefix)
    return name
