"""Explanations on tiny models: integrated gradients add up to the logit difference they explain (their
completeness), `tailor explain` writes one page with the words or a heat map, other tasks are refused
in one line, and report.html explains evaluation examples, right and wrong."""

from __future__ import annotations

import base64
import csv
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

import tailor
from conftest import TINY_IMAGE_SIDE, colour_images, sentiment_rows, write_csv
from tailor.api import explain
from tailor.data.images import ImageRef
from tailor.serving.answerer import examples_from_texts
from tailor.evaluation.explanations import pick_examples, pixel_attributions, token_attributions
from tailor.verbs.common import load_run

STEPS = 200  # enough for the integral to be exact to ~1e-4 on these models
SUPPORTED = "explain supports text-classification, image-classification, relation-extraction runs"


def _train(folder: Path, config: dict, name: str = "run") -> Path:
    """A finished run in folder/name (config paths are relative to the config file)."""
    config["output"] = {"dir": name}
    (folder / f"{name}.yaml").write_text(yaml.safe_dump(config))
    return tailor.train(folder / f"{name}.yaml").dir


@pytest.fixture(scope="module")
def text_run(tmp_path_factory, tiny_bert) -> Path:
    """A sentiment run whose evaluation data has 4 labels flipped: a model that learned the words
    answers those wrong, so the report has wrong answers to explain beside right ones."""
    folder = tmp_path_factory.mktemp("explain-text")
    write_csv(folder / "train.csv", sentiment_rows(160, seed=1))
    evaluation = sentiment_rows(40, seed=2)
    for row in evaluation[:4]:
        row["label"] = "negative" if row["label"] == "positive" else "positive"
    write_csv(folder / "eval.csv", evaluation)
    return _train(folder, {"task": "text-classification", "model": str(tiny_bert),
                           "data": {"train": "train.csv", "eval": "eval.csv", "max_length": 32},
                           "train": {"epochs": 10, "batch_size": 16, "lr": 3e-3, "warmup_ratio": 0.0,
                                     "precision": "fp32", "freeze_embeddings": False,
                                     "early_stopping_patience": None},
                           "text_classification": {"classical_baseline": False}})


@pytest.fixture(scope="module")
def image_run(tmp_path_factory, tiny_efficientnet) -> Path:
    """An image run stopped after a few steps: it answers some evaluation images wrong."""
    folder = tmp_path_factory.mktemp("explain-images")
    colour_images(folder / "photos", {"red": 8, "blue": 8, "green": 8}, seed=1)
    colour_images(folder / "held-out", {"red": 4, "blue": 4, "green": 4}, seed=2)
    return _train(folder, {"task": "image-classification", "model": str(tiny_efficientnet),
                           "data": {"train": "photos", "eval": "held-out"},
                           "train": {"max_steps": 3, "batch_size": 8, "lr": 1e-2, "warmup_ratio": 0.0,
                                     "precision": "fp32", "early_stopping_patience": None}})


def _logit(model, target: int, **inputs) -> float:
    with torch.no_grad():
        return float(model(**inputs).logits[0, target])


def _text_difference(model, tokenizer, target: int, text: str, pair: str | None = None) -> float:
    """logit(text) - logit(baseline) for class `target`; the baseline built here from its definition:
    every token but the special ones replaced by the padding token."""
    encoded = tokenizer(text, pair, return_special_tokens_mask=True, return_tensors="pt")
    special = encoded.pop("special_tokens_mask").bool()
    padded = torch.where(special, encoded["input_ids"], tokenizer.pad_token_id)
    return _logit(model, target, **encoded) - _logit(model, target, **{**encoded, "input_ids": padded})


def _image_difference(model, target: int, pixels) -> float:
    """logit(image) - logit(baseline) for class `target`: the baseline is zero in normalised pixel space."""
    return _logit(model, target, pixel_values=pixels) - _logit(model, target, pixel_values=torch.zeros_like(pixels))


def test_text_attributions_add_up_to_the_logit_difference(text_run):
    _, _, model, tokenizer = load_run(text_run)
    encoded = tokenizer("the movie was so wonderful", return_offsets_mapping=True, return_special_tokens_mask=True,
                        return_tensors="pt")
    target = model.config.label2id["positive"]
    scores, delta = token_attributions(model, tokenizer, encoded, target, steps=STEPS)

    difference = _text_difference(model, tokenizer, target, "the movie was so wonderful")
    assert difference > 0.05  # trained: surer of "positive" here than for a text of padding
    assert scores.sum() == pytest.approx(difference, rel=1e-3) and abs(delta) < 1e-3 * difference
    special = encoded["special_tokens_mask"][0].bool().numpy()
    assert scores[special].tolist() == [0.0, 0.0]  # [CLS] and [SEP] are the same in the baseline


def test_a_texts_words_carry_its_whole_attribution(text_run):
    cfg, task, model, tokenizer = load_run(text_run)
    examples = examples_from_texts(["The MOVIE was  truly wonderful!"], None, None)
    [explained] = task.explain(model, tokenizer, examples, cfg, steps=STEPS)
    assert explained["label"] == "positive" and "true" not in explained
    words = explained["attributions"]
    assert [w for w, _ in words] == ["The", "MOVIE", "was", "truly", "wonderful", "!"]  # as written, not lower-cased
    assert max(words, key=lambda w: abs(w[1])) == ["wonderful", pytest.approx(max(s for _, s in words))]
    difference = _text_difference(model, tokenizer, model.config.label2id["positive"], examples.columns["text"][0])
    assert sum(s for _, s in words) == pytest.approx(difference, rel=1e-3)
    assert abs(explained["delta"]) < 1e-3 * difference and explained["steps"] == STEPS


def test_a_text_pair_is_explained_over_both_texts(tiny_bert, make_config):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from tailor.verbs.common import resolved

    cfg, task = resolved(make_config())
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_bert, num_labels=2).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    examples = examples_from_texts(["a cat sat"], ["on the mat"], "text")
    [explained] = task.explain(model, tokenizer, examples, cfg, steps=STEPS)
    assert [w for w, _ in explained["attributions"]] == ["a", "cat", "sat"]
    assert [w for w, _ in explained["pair_attributions"]] == ["on", "the", "mat"]
    target = model.config.label2id[explained["label"]]
    difference = _text_difference(model, tokenizer, target, "a cat sat", "on the mat")
    total = sum(s for _, s in explained["attributions"] + explained["pair_attributions"])
    assert total == pytest.approx(difference, rel=1e-3)  # an untrained model's logits barely move: relative


def test_image_attributions_add_up_to_the_logit_difference(image_run):
    from tailor.data.image_transforms import eval_pixels, resize_processor

    cfg, task, model, processor = load_run(image_run)
    image = ImageRef(image_run.parent / "held-out" / "red" / "0.png")
    pixels = eval_pixels(processor, [image.load()])
    target = int(model(pixel_values=pixels).logits.argmax())
    heat, delta = pixel_attributions(model, pixels, target, steps=STEPS)
    difference = _image_difference(model, target, pixels)
    assert heat.shape == (TINY_IMAGE_SIDE, TINY_IMAGE_SIDE) and abs(difference) > 0.01
    assert heat.sum() == pytest.approx(difference, rel=1e-3) and abs(delta) < 1e-3 * abs(difference)

    resize_processor(processor, 48)  # larger than the saved heat map's 32 x 32 cells
    examples = task.read(image_run.parent / "held-out", cfg).subset([0])
    [explained] = task.explain(model, processor, examples, cfg, steps=STEPS)
    assert explained["image"] == examples.columns["image"][0].name() and explained["true"] == "blue"
    assert np.shape(explained["heatmap"]) == (32, 32)
    pixels = eval_pixels(processor, [examples.columns["image"][0].load()])
    difference = _image_difference(model, model.config.label2id[explained["label"]], pixels)
    # The cells lose nothing: they add up to the difference up to the integral's error (Captum's delta),
    # which is larger at 48 px, where more ReLU kinks lie along the path, yet small.
    assert np.sum(explained["heatmap"]) - explained["delta"] == pytest.approx(difference, rel=1e-4)
    assert abs(explained["delta"]) < 0.01 * abs(difference)
    view = Image.open(io.BytesIO(base64.b64decode(explained["view_jpeg"])))
    assert view.size == (48, 48)  # what the model saw: resized and cropped by its processor


def test_report_rows_are_half_wrong_answers_the_most_confident_first():
    truth = np.array([0, 0, 1, 1, 0, 1])
    probabilities = np.array([[.9, .1], [.4, .6], [.2, .8], [.7, .3], [.55, .45], [.1, .9]])
    assert pick_examples(truth, probabilities, 4) == [3, 1, 0, 5]  # wrong: rows 3 (0.7), 1 (0.6); right: 0, 5 (0.9)
    assert pick_examples(truth, probabilities, 3) == [3, 0, 5]
    assert pick_examples(truth[[0, 2, 3]], probabilities[[0, 2, 3]], 4) == [2, 0, 1]  # one wrong answer: all rows
    assert pick_examples(truth, probabilities, 0) == []


def test_cli_explain_writes_one_page_here_and_prints_the_top_words(text_run, cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run_files = sorted(p.name for p in text_run.iterdir())
    code, out, err = cli("explain", text_run, "--text", "my day was superb", "--text", "the food was awful <b>")
    assert code == 0, err
    assert err == "wrote explanations.html\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["explanations.html"]
    assert sorted(p.name for p in text_run.iterdir()) == run_files  # nothing written into the run folder
    first, second = map(json.loads, out.splitlines())
    assert first["text"] == "my day was superb" and first["label"] == "positive" and 0.5 < first["score"] <= 1
    assert first["top_words"][0][0] == "superb" and len(first["top_words"]) == 4
    assert second["label"] == "negative" and second["top_words"][0][0] == "awful"
    page = (tmp_path / "explanations.html").read_text()
    for word in ("my", "day", "was", "superb", "awful", "&lt;", "b", "&gt;"):  # "<b>" is three words, escaped
        assert f">{word}</span>" in page
    assert "contributions to the logit of positive add up to" in page and "Integrated gradients (Captum)" in page


def test_explain_a_data_file_up_to_the_limit(text_run, tmp_path, capsys):
    page, explained = explain(text_run, data=text_run.parent / "eval.csv", out=tmp_path / "why.html",
                                     limit=3, steps=8)
    assert page == tmp_path / "why.html" and len(explained) == 3 and "true" not in explained[0]
    assert capsys.readouterr().err == "warning: explaining the first 3 of 40 inputs; 37 left out (raise --limit)\n"
    assert "37 more inputs were left out (--limit)." in page.read_text()


def test_cli_explains_an_image_with_a_heat_map(image_run, cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = cli("explain", image_run, "--image", image_run.parent / "held-out" / "green" / "1.png",
                         "--out", "images.html", "--steps", "16")
    assert code == 0, err
    [line] = map(json.loads, out.splitlines())
    assert set(line) == {"image", "label", "score"} and line["image"].endswith("green/1.png")
    page = (tmp_path / "images.html").read_text()
    assert page.count("data:image/png;base64,") == 1 and "images: zero in the model's normalised pixel space" in page

    code, _, err = cli("explain", image_run, "--text", "a red square")
    assert code == 2 and err == "error: this image-classification run takes its inputs with --image, not --text\n"


def test_other_tasks_are_refused_in_one_line(tiny_bert, cli, tmp_path, monkeypatch):
    """A token-classification run folder (its config and a model/ that loads) is refused by name."""
    monkeypatch.chdir(tmp_path)
    run = tmp_path / "ner-run"
    shutil.copytree(tiny_bert, run / "model")
    (tmp_path / "train.conll").write_text("Ada B-PER\nwrote O\n")
    (run / "config.yaml").write_text(yaml.safe_dump({"task": "token-classification", "model": str(tiny_bert),
                                                      "data": {"train": str(tmp_path / "train.conll")}}))
    code, out, err = cli("explain", run, "--text", "Ada wrote")
    assert code == 2 and out == ""
    assert err == f"error: explain: token-classification runs cannot be explained yet; {SUPPORTED}\n"
    assert not (tmp_path / "explanations.html").exists()


def test_the_report_explains_right_and_wrong_evaluation_answers(text_run):
    metrics = json.loads((text_run / "metrics.json").read_text())
    explained = metrics["explained"]
    assert [e["label"] == e["true"] for e in explained] == [False, False, True, True]  # eval.explain_examples=4
    with (text_run.parent / "eval.csv").open() as rows:
        truth = {row["text"]: row["label"] for row in csv.DictReader(rows)}
    assert [e["true"] for e in explained] == [truth[e["text"]] for e in explained]
    for shown in (explained[:2], explained[2:]):  # the most confident of each kind first
        assert shown[0]["score"] >= shown[1]["score"]
    report = (text_run / "report.html").read_text()
    assert "<h2>Why the model answered so</h2>" in report and report.count("<div class='explained'>") == 4
    assert report.count("class='wrong'>wrong</span>") == 2 and report.count("class='right'>right</span>") == 2
    assert report.count("data:image/png;base64,") == 3 and "http" not in report  # highlighted words, no figures


def test_eval_explain_examples_0_leaves_them_out(text_run):
    config = yaml.safe_load((text_run.parent / "run.yaml").read_text())
    config["eval"] = {"explain_examples": 0}
    config["train"]["max_steps"] = 2
    run = _train(text_run.parent, config, "quiet-run")
    assert "explained" not in json.loads((run / "metrics.json").read_text())
    assert "Why the model answered so" not in (run / "report.html").read_text()


def test_the_image_report_shows_heat_maps(image_run):
    metrics = json.loads((image_run / "metrics.json").read_text())
    explained = metrics["explained"]
    assert len(explained) == 4 and {e["label"] == e["true"] for e in explained} == {True, False}
    report = (image_run / "report.html").read_text()
    section = report.split("<h2>Why the model answered so</h2>")[1]
    assert section.count("data:image/png;base64,") == 4
