"""Image classification: one label per image (products, plants, defects on a line, documents).

Data: a folder with one sub-folder per class, a table (CSV/JSONL/Parquet) with an image path column,
or a `datasets` folder with an Image feature (data/images.py). Every image is decoded once while the
data is read, so a bad file stops the run before training; pixels are made batch by batch after that
(memory stays flat). Training crops, flips and jitters each image (data/image_transforms.py); the
evaluation sees the model's own preprocessing. The default model is EfficientNet-Lite0, whose
ImageNet weights ship in a pip package; any Hugging Face image-classification folder works too.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
from pydantic import Field as Option
from pydantic import model_validator

from tailor.config import Config, TaskOptions
from tailor.data.examples import Examples, check_known_classes, class_set
from tailor.data.loading import TaskData
from tailor.models.catalog import register_own_architectures
from tailor.tasks.base import CLASS_METRICS, Encoded

MISCLASSIFIED_SHOWN = 16  # the report's grid: the most confident mistakes first
THUMBNAIL_SIDE = 96


class ImageClassificationOptions(TaskOptions):
    image_size: int | None = Option(None, ge=16, description="side of the square the model sees, in pixels; "
                                                              "default the model's own (224 for "
                                                              "efficientnet-lite0); smaller is faster")
    augment: bool = Option(True, description="random crops, flips and colour jitter of training images (never "
                                             "at evaluation)")
    crop_scale: tuple[float, float] = Option((0.35, 1.0), description="augment: the fraction of the image's area "
                                                                      "a random crop keeps, from-to")
    crop_ratio: tuple[float, float] = Option((0.75, 4 / 3), description="augment: the crop's aspect ratio "
                                                                        "(width / height), from-to")
    hflip: float = Option(0.5, ge=0, le=1, description="augment: probability of a left-right flip (0 for "
                                                       "images whose sides matter, such as text)")
    vflip: float = Option(0.0, ge=0, le=1, description="augment: probability of an upside-down flip (for "
                                                       "microscopy, satellite and other top-down images)")
    color_jitter: float = Option(0.2, ge=0, le=1, description="augment: brightness, contrast and saturation "
                                                              "vary by up to this fraction (0 turns it off)")

    @model_validator(mode="after")
    def _ranges(self):
        low, high = self.crop_scale
        if not 0 < low <= high <= 1:
            raise ValueError("crop_scale is a range of area fractions 0 < from <= to <= 1, e.g. [0.35, 1.0]")
        if not 0 < self.crop_ratio[0] <= self.crop_ratio[1]:
            raise ValueError("crop_ratio is a range of aspect ratios 0 < from <= to, e.g. [0.75, 1.333]")
        return self


@dataclass(frozen=True)
class NothingCut:
    """An image is never truncated: it is resized (the data check says how many are upscaled)."""

    count: int = 0

    def message(self, what: str) -> None:
        return None


class ImageClassification:
    name: ClassVar[str] = "image-classification"
    summary: ClassVar[str] = "one label per image: products, plants, defects, documents"
    default_model: ClassVar[str] = "efficientnet-lite0"
    Options: ClassVar = ImageClassificationOptions
    metrics: ClassVar = CLASS_METRICS
    targets: ClassVar[str] = "classes"
    processor_kind: ClassVar[str] = "image-processor"
    columns: ClassVar = ("image", "label")
    pipeline_tag: ClassVar[str] = "image-classification"
    pipeline_input: ClassVar[str] = '"photo.jpg"'
    peft_task_type: ClassVar[None] = None  # peft has no image task type: the head is kept by name
    lora_head: ClassVar[tuple] = ("classifier",)  # the head's name in every HF image classifier (and ours)
    # Measured on 600 grey clothes photos, 5 classes, EfficientNet-Lite0 at 224 px on 2 cores
    # (benchmarks/image_clothes.py): batch 16 at lr 3e-4 climbs to eval accuracy 0.875 by epoch 4 of
    # 10 (1.3 s a step); at 1e-3 it stalls near 0.82. Dropout stays the model's own (0.2 before its
    # head): unlike a text encoder's, it is one cheap mask per image.
    defaults: ClassVar[dict] = {"method": "full", "train.batch_size": 16, "eval.batch_size": 64,
                                "train.epochs": 10, "train.lr": 3e-4, "train.gradient_checkpointing": False,
                                "lora.targets": "all-linear"}
    stratify_by: ClassVar[str] = "label"
    cpu_attention: ClassVar[None] = None
    # fp32: a CNN trained under the CPU's bf16 autocast scores 2 points lower when served in fp32 (its
    # BatchNorm statistics are gathered from bf16 activations: 0.855 vs 0.875 on the clothes benchmark,
    # same checkpoint), and fp32 with channels-last weights is the faster step anyway (EfficientNet-
    # Lite0, batch 16, 224 px: 1.09 s vs 1.43 s in bf16, 1.52 s in fp32 channels-first).
    cpu_precision: ClassVar[str] = "fp32"

    def processor(self, location: str, cfg: Config, **load_kwargs):
        from tailor.data.image_transforms import load_image_processor

        register_own_architectures()
        return load_image_processor(location, cfg.options.image_size, **load_kwargs)

    def read(self, path: Path, cfg: Config, *, targets: bool = True, split: str = "train") -> Examples:
        from tailor.data.images import read_images

        return read_images(Path(path), cfg, targets=targets, split=split)

    def label_set(self, train: Examples, cfg: Config) -> list[str]:
        return class_set(train, cfg)

    def check_labels(self, examples: Examples, labels: list[str], cfg: Config) -> None:
        check_known_classes(examples, labels, cfg)

    def build_model(self, location: str, cfg: Config, data: TaskData, **load_kwargs):
        from transformers import AutoModelForImageClassification

        from tailor.models.loading import with_new_head

        register_own_architectures()
        return _channels_last(with_new_head(AutoModelForImageClassification, location, data.labels, **load_kwargs))

    def encode(self, examples: Examples, processor, cfg: Config, labels: list[str] | None, *,
               training: bool = False) -> Encoded:
        """Rows hold an image's index; its pixels are made when a batch asks for it (augmented for
        the training set), so no more than a batch of pixels is ever in memory."""
        from datasets import Dataset

        from tailor.data.image_transforms import TrainAugmentation, eval_pixels

        images = examples.columns["image"]
        columns = {"index": list(range(len(examples)))}
        if labels is not None and "label" in examples.columns:
            label2id = {label: i for i, label in enumerate(labels)}
            columns["labels"] = [label2id[label] for label in examples.columns["label"]]
        augment = TrainAugmentation(processor, cfg.options) if training and cfg.options.augment else None

        def to_pixels(batch: dict) -> dict:
            loaded = [images[i].load() for i in batch["index"]]
            pixels = [augment(image) for image in loaded] if augment else list(eval_pixels(processor, loaded))
            return {"pixel_values": pixels, **({"labels": batch["labels"]} if "labels" in batch else {})}

        return Encoded(Dataset.from_dict(columns).with_transform(to_pixels), [1] * len(examples), NothingCut(),
                       unit="images")

    def collator(self, processor, cfg: Config):
        from tailor.data.image_transforms import collate_images

        return collate_images

    def loss(self, cfg: Config, data: TaskData):
        from tailor.training.losses import cross_entropy

        return cross_entropy

    def training_metrics(self, cfg: Config, labels: list[str]):
        from tailor.evaluation.classification import training_metrics

        return training_metrics()

    def baselines(self, model, processor, data: TaskData, cfg: Config, base_location: str) -> dict:
        """Always answering the most frequent training class: the floor to clear."""
        from tailor.evaluation.classification import majority_baseline

        return {"baseline": majority_baseline(data.train.columns["label"], data.eval.columns["label"], data.labels)}

    def check(self, data: TaskData, processor, cfg: Config) -> dict:
        from tailor.data.image_check import image_report
        from tailor.data.image_transforms import processor_image_size

        return image_report(data, cfg, image_size=processor_image_size(processor))

    def report_sections(self, metrics: dict) -> list[tuple[str, str]]:
        from tailor.evaluation.report import class_sections, figure

        grid = _misclassified_png(metrics["eval"].get("misclassified") or [])
        return [*class_sections(metrics), ("Misclassified evaluation images (most confident first)", figure("", grid))]

    def finish_saved_model(self, folder: Path, model, processor, rebuild) -> None:
        """A LoRA run's adapter is merged into plain weights, so model/ loads with transformers alone."""
        from tailor.models.methods import merge_saved_adapter

        merge_saved_adapter(folder, rebuild)

    def load_model(self, folder: Path, **load_kwargs):
        from transformers import AutoModelForImageClassification

        register_own_architectures()
        return _channels_last(AutoModelForImageClassification.from_pretrained(folder, **load_kwargs))

    def evaluate(self, model, processor, examples: Examples, cfg: Config, batch_size: int) -> dict:
        from tailor.evaluation.classification import classification_metrics, model_labels

        labels = model_labels(model)
        label2id = {label: i for i, label in enumerate(labels)}
        truth = np.array([label2id[label] for label in examples.columns["label"]])
        probabilities = self.probabilities(model, processor, examples, cfg, batch_size)
        metrics = classification_metrics(truth, probabilities, labels)
        metrics["misclassified"] = _misclassified(examples, truth, probabilities, labels)
        return metrics

    def predict(self, model, processor, examples: Examples, cfg: Config, batch_size: int) -> list[dict]:
        from tailor.evaluation.classification import class_answers, model_labels

        answers = class_answers(self.probabilities(model, processor, examples, cfg, batch_size), model_labels(model))
        return [{"image": image.name(), **answer} for image, answer in zip(examples.columns["image"], answers)]

    def probabilities(self, model, processor, examples: Examples, cfg: Config, batch_size: int) -> np.ndarray:
        from tailor.evaluation.classification import class_probabilities

        encoded = self.encode(examples, processor, cfg, labels=None)
        return class_probabilities(model, encoded, self.collator(processor, cfg), batch_size)


def _channels_last(model):
    """Convolution weights stored channels-last: oneDNN's fast layout on a CPU (and cuDNN's with
    mixed precision); saved weights are the same values, a model's 2-D layers are untouched."""
    import torch

    return model.to(memory_format=torch.channels_last)


def _misclassified(examples: Examples, truth: np.ndarray, probabilities: np.ndarray, labels: list[str]) -> list[dict]:
    """The most confident mistakes, each with a small JPEG thumbnail, so the report can show them
    whatever became of the files (and metrics.json stays small: a few kB per image)."""
    predicted = probabilities.argmax(-1)
    wrong = np.flatnonzero(predicted != truth)
    wrong = wrong[np.argsort(-probabilities[wrong, predicted[wrong]], kind="stable")][:MISCLASSIFIED_SHOWN]
    shown = []
    for row in wrong.tolist():
        image = examples.columns["image"][row]
        buffer = io.BytesIO()
        image.thumbnail(THUMBNAIL_SIDE).save(buffer, format="JPEG", quality=85)
        shown.append({"image": image.name(), "where": examples.where[row], "true": labels[truth[row]],
                      "predicted": labels[predicted[row]], "score": round(float(probabilities[row, predicted[row]]), 4),
                      "thumbnail_jpeg": base64.b64encode(buffer.getvalue()).decode("ascii")})
    return shown


def _misclassified_png(mistakes: list[dict]) -> str | None:
    """A grid of the misclassified thumbnails, titled with the true and the predicted class."""
    if not mistakes:
        return None
    from PIL import Image

    from tailor.evaluation.report import plt, png

    columns = min(4, len(mistakes))
    rows = -(-len(mistakes) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(2.6 * columns, 2.9 * rows), squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    for axis, mistake in zip(axes.flat, mistakes):
        axis.imshow(Image.open(io.BytesIO(base64.b64decode(mistake["thumbnail_jpeg"]))))
        axis.set_title(f"true: {mistake['true']}\npredicted: {mistake['predicted']} ({mistake['score']:.2f})",
                       fontsize=9)
    return png(fig)
