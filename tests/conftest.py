"""Shared fixtures: a tiny random BERT (built from a config, with the real MiniLM tokenizer) and
small labelled files written by the tests themselves."""

from __future__ import annotations

import csv
import os
import random
import sys
from pathlib import Path

import absl.logging  # noqa: F401  (see below)
import pytest

# rouge-score imports absl, whose logging handler takes the sys.stderr of the moment: under pytest, a
# capture file. When a logging reset closes every handler (uvicorn's, in the server tests), absl closes
# that stream unless it is the process's own stderr, and pytest's capture then fails on a closed file.
absl.logging.get_absl_handler().python_handler.stream = sys.__stderr__
os.environ["HF_HUB_OFFLINE"] = "1"  # never reach for the hub in tests
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")



def pytest_collection_modifyitems(items):
    """The real-model tests (minutes each) first: with `make test`'s two workers they then run side by
    side and the fast tests fill in after, instead of one worker ending alone on the slowest."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)  # stable: file order otherwise


POSITIVE = ["great", "wonderful", "lovely", "excellent", "happy", "fantastic", "superb", "delightful"]
NEGATIVE = ["awful", "terrible", "horrible", "sad", "boring", "dreadful", "poor", "miserable"]
SUBJECTS = ["the movie", "our trip", "this phone", "the service", "my day", "the food", "that book", "the show"]


def sentiment_rows(n: int, seed: int = 0) -> list[dict]:
    """Short sentences whose label is given away by one word: learnable by a tiny model in seconds."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = "positive" if i % 2 == 0 else "negative"
        word = rng.choice(POSITIVE if label == "positive" else NEGATIVE)
        filler = " ".join(rng.choices(["really", "quite", "so", "very", "truly", "just"], k=rng.randint(0, 6)))
        rows.append({"text": f"{rng.choice(SUBJECTS)} was {filler} {word}".replace("  ", " "), "label": label})
    return rows


def write_csv(path: Path, rows: list[dict], columns: list[str] | None = None) -> Path:
    columns = columns or list(rows[0])
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> Path:
    """A 2-layer, 32-wide random BERT saved with the MiniLM tokenizer: real tokenizer, toy weights."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    from tailor.models.catalog import EMBEDDED

    folder = tmp_path_factory.mktemp("tiny-bert")
    tokenizer = AutoTokenizer.from_pretrained(EMBEDDED["minilm"].path())
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128, hidden_dropout_prob=0.0,
                        attention_probs_dropout_prob=0.0)
    import torch

    torch.manual_seed(0)
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture
def sentiment_files(tmp_path) -> dict[str, Path]:
    return {"train": write_csv(tmp_path / "train.csv", sentiment_rows(160, seed=1)),
            "eval": write_csv(tmp_path / "eval.csv", sentiment_rows(40, seed=2))}


@pytest.fixture
def make_config(tmp_path, tiny_bert, sentiment_files, monkeypatch):
    """Write a config for the tiny model; keyword sections are merged over fast defaults.
    The test runs inside tmp_path, so the default run folder runs/config lands there."""
    import yaml

    monkeypatch.chdir(tmp_path)

    def make(**sections) -> Path:
        config = {
            "task": "text-classification",
            "model": str(tiny_bert),
            "data": {"train": "train.csv", "eval": "eval.csv", "max_length": 32},
            "train": {"epochs": 10, "batch_size": 16, "lr": 3e-3, "warmup_ratio": 0.0, "precision": "fp32",
                      "freeze_embeddings": False,  # random embeddings: the toy model must learn them
                      "early_stopping_patience": None},
            "text_classification": {"classical_baseline": False},
            "eval": {"bootstrap": 0},  # 2 s of intervals a run; the tests of intervals ask for them
        }
        for section, values in sections.items():
            if isinstance(values, dict) and isinstance(config.get(section), dict):
                config[section] = {**config[section], **values}
            else:
                config[section] = values
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(config))
        return path

    return make


@pytest.fixture
def cli(monkeypatch, capsys):
    """Run the real `tailor` entry point in-process: returns (exit code, stdout, stderr)."""
    from tailor.cli import main

    def run(*args: str):
        monkeypatch.setattr(sys, "argv", ["tailor", *map(str, args)])
        code = 0
        try:
            main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


@pytest.fixture(scope="session")
def smollm2_tokenizer(tmp_path_factory) -> Path:
    """The real SmolLM2 tokenizer (with its ChatML template), read from the shipped GGUF file."""
    import importlib.util

    from transformers import AutoTokenizer

    from tailor.models.catalog import EMBEDDED

    spec = EMBEDDED["smollm2"]
    folder = tmp_path_factory.mktemp("smollm2-tokenizer")
    package_dir = importlib.util.find_spec(spec.package).submodule_search_locations[0]
    AutoTokenizer.from_pretrained(package_dir, gguf_file=spec.shipped_file).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory, smollm2_tokenizer) -> Path:
    """A 2-layer, 64-wide random Llama (tied embeddings, grouped KV heads like SmolLM2) saved with
    the real SmolLM2 tokenizer: real chat template, toy weights."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(smollm2_tokenizer)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                         tie_word_embeddings=True, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    folder = tmp_path_factory.mktemp("tiny-llama")
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_t5(tmp_path_factory, smollm2_tokenizer) -> Path:
    """A 2+2-layer, 32-wide random T5 (an encoder-decoder) saved with the real SmolLM2 tokenizer, which,
    unlike T5's own, adds no end-of-sequence token: encoding must add it for the model to learn to stop."""
    import torch
    from transformers import AutoTokenizer, T5Config, T5ForConditionalGeneration

    tokenizer = AutoTokenizer.from_pretrained(smollm2_tokenizer)
    config = T5Config(vocab_size=len(tokenizer), d_model=32, d_kv=16, d_ff=64, num_layers=2, num_decoder_layers=2,
                      num_heads=2, dropout_rate=0.0, pad_token_id=tokenizer.pad_token_id,
                      eos_token_id=tokenizer.eos_token_id, decoder_start_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny-t5")
    T5ForConditionalGeneration(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


TINY_IMAGE_SIDE = 32


@pytest.fixture(scope="session")
def tiny_efficientnet(tmp_path_factory) -> Path:
    """A 2-stage, 8-channel random EfficientNet-Lite (tailor's own module, BatchNorm and SAME padding
    as the real one) with the real model's kind of image processor, at 32 px."""
    import torch
    from transformers.image_utils import PILImageResampling
    from transformers.models.convnext.image_processing_pil_convnext import ConvNextImageProcessorPil

    from tailor.models.efficientnet_lite import EfficientNetLiteConfig, EfficientNetLiteForImageClassification

    torch.manual_seed(0)
    config = EfficientNetLiteConfig(stem_channels=8, stages=[[1, 3, 1, 1, 8], [1, 3, 2, 2, 16]], head_channels=32,
                                    num_labels=2)
    folder = tmp_path_factory.mktemp("tiny-efficientnet")
    EfficientNetLiteForImageClassification(config).save_pretrained(folder)
    ConvNextImageProcessorPil(size={"shortest_edge": TINY_IMAGE_SIDE}, crop_pct=0.875,
                              resample=PILImageResampling.BICUBIC, image_mean=[0.5] * 3,
                              image_std=[0.5] * 3).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_vit(tmp_path_factory) -> Path:
    """A 2-layer, 32-wide random ViT (LayerNorm, attention: what LoRA adapts) at 32 px, 8 px patches."""
    import torch
    from transformers import ViTConfig, ViTImageProcessorPil, ViTModel

    torch.manual_seed(0)
    config = ViTConfig(image_size=TINY_IMAGE_SIDE, patch_size=8, hidden_size=32, num_hidden_layers=2,
                       num_attention_heads=2, intermediate_size=64, hidden_dropout_prob=0.0,
                       attention_probs_dropout_prob=0.0)
    folder = tmp_path_factory.mktemp("tiny-vit")
    ViTModel(config, add_pooling_layer=False).save_pretrained(folder)
    ViTImageProcessorPil(size={"height": TINY_IMAGE_SIDE, "width": TINY_IMAGE_SIDE}).save_pretrained(folder)
    return folder


COLOURS = {"red": (200, 40, 40), "blue": (40, 60, 200), "green": (40, 170, 60)}


def colour_images(folder: Path, per_class: dict[str, int], seed: int = 0, side: int = 40) -> Path:
    """One sub-folder per class of noisy images holding a square of the class's colour somewhere:
    learnable by a tiny model in a few steps, and nothing a flip or a crop takes away."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    for label, count in per_class.items():
        (folder / label).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            pixels = rng.integers(90, 160, size=(side, side, 3), dtype=np.uint8)
            x, y = rng.integers(0, side // 2, size=2)
            pixels[y:y + side // 2, x:x + side // 2] = COLOURS[label]
            Image.fromarray(pixels).save(folder / label / f"{i}.png")
    return folder
