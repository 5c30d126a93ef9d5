"""Image classification end to end on tiny random models (tailor's EfficientNet-Lite, a Hugging Face
ViT): a user's image folder through train, predict, eval and data check; augmentation on for
training only; the methods; errors as one line; the saved model loading with plain transformers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from PIL import Image

from conftest import TINY_IMAGE_SIDE, colour_images
from task_fixtures import weights


@pytest.fixture
def image_config(tmp_path, tiny_efficientnet, monkeypatch):
    monkeypatch.chdir(tmp_path)
    colour_images(tmp_path / "photos", {"red": 30, "blue": 30, "green": 30}, seed=1)
    colour_images(tmp_path / "held-out", {"red": 10, "blue": 10, "green": 10}, seed=2)

    def make(model=tiny_efficientnet, **sections) -> str:
        config = {"task": "image-classification", "model": str(model),
                  "data": {"train": "photos", "eval": "held-out"},
                  "train": {"epochs": 6, "batch_size": 16, "lr": 1e-2, "warmup_ratio": 0.0, "precision": "fp32",
                            "early_stopping_patience": None}}
        for section, values in sections.items():
            config[section] = {**config.get(section, {}), **values} if isinstance(values, dict) else values
        (tmp_path / "images.yaml").write_text(yaml.safe_dump(config))
        return "images.yaml"

    return make


def test_an_image_folder_trains_predicts_and_evaluates(image_config, cli, tmp_path):
    code, out, err = cli("train", image_config())
    assert code == 0, err
    assert "train: image folder, 3 classes, 90 images" in err
    run = tmp_path / "runs" / "images"
    assert {p.name for p in run.iterdir()} == {"config.yaml", "checkpoints", "model", "metrics.json", "history.json",
                                               "report.html"}
    assert {p.name for p in (run / "model").iterdir()} == {"config.json", "model.safetensors",
                                                          "preprocessor_config.json", "README.md"}
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["eval"]["accuracy"] >= 0.9 > metrics["baseline"]["accuracy"]
    assert metrics["data"]["labels"] == ["blue", "green", "red"] and metrics["eval"]["examples"] == 30
    assert metrics["train"]["images_per_s"] > 0 and "tokens_per_s" not in metrics["train"]
    assert "majority class" in out and "fine-tuned" in out
    card = (run / "model" / "README.md").read_text()
    assert "import tailor.models.efficientnet_lite" in card and 'pipeline("image-classification"' in card

    code, out, err = cli("predict", run, "--image", "held-out/red/0.png", "--image", "held-out/blue/3.png")
    assert code == 0, err
    answers = [json.loads(line) for line in out.splitlines()]
    assert [a["label"] for a in answers] == ["red", "blue"]
    assert answers[0]["image"] == "held-out/red/0.png" and set(answers[0]["probabilities"]) == {"blue", "green", "red"}
    assert sum(answers[0]["probabilities"].values()) == pytest.approx(1, abs=1e-4)

    code, _, err = cli("predict", run, "--data", "held-out", "--output", "answers.csv")
    assert code == 0, err
    lines = (tmp_path / "answers.csv").read_text().splitlines()
    assert lines[0] == "image,label,score,p_blue,p_green,p_red" and len(lines) == 31

    code, out, err = cli("eval", run, "--data", "held-out")
    assert code == 0, err
    assert json.loads(out[:out.index("}") + 1])["accuracy"] == pytest.approx(metrics["eval"]["accuracy"])
    assert "red" in out and "support 10" in out

    code, out, err = cli("predict", run, "--text", "a red square")
    assert code == 2 and err == "error: this image-classification run takes its inputs with --image, not --text\n"


def test_the_report_shows_the_most_confident_mistakes(image_config, tmp_path):
    import tailor

    # One step at a tiny learning rate: the model is still mostly wrong, so there are mistakes to show.
    result = tailor.train(image_config(train={"max_steps": 1, "lr": 1e-6}, eval={"explain_examples": 0}))
    mistakes = result.metrics["eval"]["misclassified"]
    wrong = result.metrics["eval"]["examples"] - round(result.metrics["eval"]["accuracy"] * 30)
    assert len(mistakes) == min(wrong, 16) > 0
    scores = [m["score"] for m in mistakes]
    assert scores == sorted(scores, reverse=True) and all(m["true"] != m["predicted"] for m in mistakes)
    assert mistakes[0]["image"].startswith(str(tmp_path / "held-out")) and mistakes[0]["where"].endswith(".png")
    page = (result.dir / "report.html").read_text()
    assert "Misclassified evaluation images" in page
    assert page.count("data:image/png;base64,") == 4  # curves, confusion matrix, reliability, the grid of mistakes


def _pixels(dataset, row: int) -> torch.Tensor:
    return dataset[row]["pixel_values"]


def test_training_images_are_augmented_and_evaluation_images_are_not(image_config, tiny_efficientnet):
    from tailor.data.image_transforms import eval_pixels
    from tailor.verbs.common import load_processor, model_source, resolved

    from tailor.data.loading import load_task_data

    cfg, task = resolved(image_config())
    data = load_task_data(task, cfg)
    processor = load_processor(task, model_source(cfg), cfg)
    train = task.encode(data.train, processor, cfg, data.labels, training=True).dataset
    held_out = task.encode(data.eval, processor, cfg, data.labels).dataset
    assert not torch.equal(_pixels(train, 0), _pixels(train, 0))  # a new crop, flip and jitter each time
    assert torch.equal(_pixels(held_out, 0), _pixels(held_out, 0))
    assert torch.equal(_pixels(held_out, 0), eval_pixels(processor, [data.eval.columns["image"][0].load()])[0])
    assert _pixels(train, 0).shape == _pixels(held_out, 0).shape == (3, TINY_IMAGE_SIDE, TINY_IMAGE_SIDE)

    cfg.options.augment = False
    plain = task.encode(data.train, processor, cfg, data.labels, training=True).dataset
    assert torch.equal(_pixels(plain, 0), eval_pixels(processor, [data.train.columns["image"][0].load()])[0])


def test_training_crops_are_normalised_as_the_model_expects(image_config, tiny_vit):
    """A crop of the whole image with no flip or jitter is, up to resampling, what the processor makes:
    the same normalisation (from the model's preprocessing config) on both paths."""
    from tailor.data.image_transforms import eval_pixels
    from tailor.data.loading import load_task_data
    from tailor.verbs.common import load_processor, model_source, resolved

    cfg, task = resolved(image_config(model=tiny_vit, image_classification={
        "crop_scale": [1.0, 1.0], "crop_ratio": [1.0, 1.0], "hflip": 0.0, "color_jitter": 0.0}))
    data = load_task_data(task, cfg)
    processor = load_processor(task, model_source(cfg), cfg)
    train = task.encode(data.train, processor, cfg, data.labels, training=True).dataset
    expected = eval_pixels(processor, [data.train.columns["image"][0].load()])[0]
    assert (train[0]["pixel_values"] - expected).abs().mean() < 0.05
    assert expected.min() < -0.2 and expected.max() > 0.2  # ViT's processor maps [0, 1] to [-1, 1]


def test_image_size_sets_what_the_model_sees_and_is_saved(image_config, tmp_path):
    import tailor

    result = tailor.train(image_config(image_classification={"image_size": 24}, train={"max_steps": 2}))
    saved = json.loads((result.dir / "model" / "preprocessor_config.json").read_text())
    assert saved["size"] == {"shortest_edge": 24}
    answers = tailor.predict(result.dir, images=[tmp_path / "held-out" / "red" / "1.png"])
    assert answers[0]["label"] in {"red", "green", "blue"}


def test_freeze_trains_the_head_and_keeps_the_backbone_and_its_statistics(image_config, tiny_efficientnet):
    import tailor

    result = tailor.train(image_config(method="freeze"))
    before, after = weights(tiny_efficientnet), weights(result.dir / "model")
    changed = {key for key in after if key in before and not torch.equal(before[key], after[key])}
    assert changed == {"classifier.weight", "classifier.bias"}
    assert any("running_mean" in key for key in before)  # BatchNorm statistics are among the unchanged
    assert result.metrics["eval"]["accuracy"] > result.metrics["baseline"]["accuracy"]


def test_lora_adapts_a_vit_and_saves_a_plain_merged_model(image_config, tiny_vit):
    import tailor
    from transformers import AutoModelForImageClassification

    result = tailor.train(image_config(model=tiny_vit, method="lora", train={"max_steps": 4, "lr": 1e-2}))
    folder = result.dir / "model"
    assert not (folder / "adapter_config.json").exists()
    assert result.metrics["train"]["trainable_parameters"] < result.metrics["train"]["total_parameters"] / 3
    before, after = weights(tiny_vit), weights(folder)
    assert not torch.equal(before["encoder.layer.0.attention.attention.query.weight"],
                           after["encoder.layer.0.attention.attention.query.weight"])  # merged LoRA update
    assert torch.equal(before["embeddings.patch_embeddings.projection.weight"],
                       after["embeddings.patch_embeddings.projection.weight"])  # not adapted: unchanged
    assert AutoModelForImageClassification.from_pretrained(folder).config.num_labels == 3


def test_lora_on_a_convolutional_network_is_refused_with_one_line(image_config, cli):
    code, _, err = cli("train", image_config(method="lora"))
    assert code == 2
    assert err.splitlines()[-1] + "\n" == ("error: method=lora adapts a model's linear layers (attention, MLP), and this efficientnet_lite "
                   "model is a convolutional network with none outside its head; use method=full or method=freeze, "
                   "or name convolutions to adapt in lora.targets (e.g. lora.targets=[_project_conv] for "
                   "EfficientNet's 1x1 convolutions)\n")


def test_lora_on_named_convolutions_trains_them(image_config):
    import tailor

    result = tailor.train(image_config(method="lora", lora={"targets": ["_project_conv"]}, train={"max_steps": 2}))
    assert result.metrics["train"]["trainable_parameters"] < result.metrics["train"]["total_parameters"]


def test_a_truncated_image_stops_training_with_one_line_naming_it(image_config, cli, tmp_path):
    broken = tmp_path / "photos" / "red" / "3.png"
    broken.write_bytes(broken.read_bytes()[:60])
    code, out, err = cli("train", image_config())
    assert code == 2 and not (tmp_path / "runs").exists()
    assert err.startswith(f"error: {broken}: cannot be read as an image (") and err.count("\n") == 1
    assert "data.on_invalid=skip" in err


def test_grey_and_palette_images_train_as_rgb_and_are_counted(image_config, cli, tmp_path):
    for path in sorted((tmp_path / "photos" / "blue").glob("*.png"))[:5]:
        Image.open(path).convert("L").save(path)
    for path in sorted((tmp_path / "photos" / "red").glob("*.png"))[:2]:
        Image.open(path).convert("P").save(path)
    code, _, err = cli("train", image_config(train={"max_steps": 1}))
    assert code == 0, err
    assert "7 images are converted to RGB: 5 grey (L), 2 palette (P)" in err


def test_data_check_reports_classes_sizes_and_leaks(image_config, cli, tmp_path):
    (tmp_path / "held-out" / "red" / "copy.png").write_bytes((tmp_path / "photos" / "red" / "0.png").read_bytes())
    code, out, err = cli("data", "check", image_config())
    assert code == 0, err
    assert "images per class (train): blue 30 (33%), green 30 (33%), red 30 (33%)" in out
    assert "image sizes (width x height): min 40x40  median 40x40  max 40x40" in out
    assert "warning: 1 eval image is an exact copy of a training image (e.g. red/copy.png = train red/0.png)" in out


def test_a_hugging_face_vit_folder_trains(image_config, tiny_vit):
    import tailor

    result = tailor.train(image_config(model=tiny_vit))
    assert result.metrics["eval"]["accuracy"] >= 0.9
    assert json.loads((result.dir / "model" / "config.json").read_text())["model_type"] == "vit"


def test_the_saved_model_loads_with_plain_transformers_and_no_remote_code(image_config, tmp_path):
    import tailor

    result = tailor.train(image_config(train={"max_steps": 2}))
    config = json.loads((result.dir / "model" / "config.json").read_text())
    assert config["model_type"] == "efficientnet_lite" and "auto_map" not in config
    expected = tailor.predict(result.dir, images=[tmp_path / "held-out" / "green" / "2.png"])[0]
    script = (f"import tailor.models.efficientnet_lite\nfrom transformers import pipeline\n"
              f"run = pipeline('image-classification', model={str(result.dir / 'model')!r})\n"
              f"print(run({str(tmp_path / 'held-out' / 'green' / '2.png')!r})[0]['label'])")
    shown = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                           env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert shown.stdout.strip() == expected["label"]


TORCHRUN = Path(sys.executable).with_name("torchrun")


@pytest.mark.skipif(not TORCHRUN.exists(), reason="torchrun is installed with torch")
def test_two_processes_train_the_batchnorm_network(image_config, tmp_path):
    """BatchNorm normalises each process's share of the batch on its own (as DDP does), so this run is
    checked to work and learn; test_processes checks 2 processes = 1 on a ViT."""
    launched = subprocess.run([str(TORCHRUN), "--standalone", "--nproc_per_node", "2", "-m", "tailor", "train",
                               image_config(train={"epochs": 6, "batch_size": 8})],
                              capture_output=True, text=True, timeout=300,
                              env={**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"})
    assert launched.returncode == 0, launched.stderr[-3000:]
    metrics = json.loads((tmp_path / "runs" / "images" / "metrics.json").read_text())
    assert metrics["train"]["processes"] == 2 and metrics["train"]["global_batch"] == 16
    assert metrics["eval"]["accuracy"] >= 0.9


def test_pixels_are_made_batch_by_batch(image_config, monkeypatch):
    """Evaluation memory stays flat: an image is read when its batch is made, never all up front."""
    import tailor
    import tailor.data.image_transforms as transforms
    from tailor.data.images import ImageRef

    result = tailor.train(image_config(train={"max_steps": 1}))
    opened, at_each_batch = [], []
    load, collate = ImageRef.load, transforms.collate_images
    monkeypatch.setattr(ImageRef, "load", lambda self: opened.append(self) or load(self))
    monkeypatch.setattr(transforms, "collate_images", lambda rows: at_each_batch.append(len(opened)) or collate(rows))
    tailor.evaluate(result.dir, "held-out", batch_size=7)
    assert at_each_batch == [7, 14, 21, 28, 30]
