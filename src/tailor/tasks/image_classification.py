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
from tailor.data.examples import Examples
from tailor.data.loading import TaskData
from tailor.models.catalog import DEFAULT_LR_ROWS, register_own_architectures
from tailor.tasks.base import CLASS_METRICS, Encoded, OneLabelPerInput

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


class ImageRows:
    """The encoded images as a torch Dataset: row i is {pixel_values, labels} made on access. A plain
    class rather than a `datasets` one with a transform, which would pickle (to fingerprint it) every
    image reference at each select."""

    def __init__(self, images: list, labels: list[int] | None, to_pixels, order: list[int]):
        self.images, self.labels, self.to_pixels, self.order = images, labels, to_pixels, order

    def __len__(self) -> int:
        return len(self.order)

    def __getitem__(self, row: int) -> dict:
        index = self.order[row]
        item = {"pixel_values": self.to_pixels(self.images[index].load())}
        if self.labels is not None:
            item["labels"] = self.labels[index]
        return item

    def select(self, rows) -> "ImageRows":
        return ImageRows(self.images, self.labels, self.to_pixels, [self.order[r] for r in rows])


class ImageClassification(OneLabelPerInput):
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
    export_formats: ClassVar[tuple[str, ...]] = ("hf", "onnx")
    lora_head: ClassVar[tuple] = ("classifier",)  # the head's name in every HF image classifier (and ours)
    # Measured on 600 grey clothes photos, 5 classes, EfficientNet-Lite0 at 224 px on 2 cores
    # (benchmarks/image_clothes.py): batch 16 for 10 epochs reaches eval accuracy 0.885, test 0.864.
    # The learning rate is the model's (the catalog's 3e-4 for efficientnet-lite0; 5e-5 for another
    # folder, e.g. a ViT, which wants smaller steps than a small CNN). Dropout stays the model's own
    # (0.2 before its head): unlike a text encoder's, it is one cheap mask per image.
    defaults: ClassVar[dict] = {"method": "full", "train.batch_size": 16, "eval.batch_size": 64,
                                "train.epochs": 10, "train.gradient_checkpointing": False,
                                "lora.targets": "all-linear"}
    stratify_by: ClassVar[str] = "label"
    lr_reference_rows: ClassVar[int] = DEFAULT_LR_ROWS
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

    def build_model(self, location: str, cfg: Config, data: TaskData, **load_kwargs):
        from transformers import AutoModelForImageClassification

        from tailor.models.loading import with_new_head

        register_own_architectures()
        model = with_new_head(AutoModelForImageClassification, location, data.labels, **load_kwargs)
        if cfg.train.gradient_checkpointing and not model.supports_gradient_checkpointing:
            from tailor.errors import ConfigError

            raise ConfigError(f"train.gradient_checkpointing=true: this {model.config.model_type} model does not "
                              "support it; set it to false (or lower train.batch_size to use less memory)")
        return _channels_last(model)

    def encode(self, examples: Examples, processor, cfg: Config, labels: list[str] | None, *,
               training: bool = False) -> Encoded:
        """Rows that make their pixels when a batch asks for them (augmented for the training set), so
        no more than a batch of pixels is ever in memory."""
        from tailor.data.image_transforms import TrainAugmentation, eval_pixels

        label_ids = None
        if labels is not None and "label" in examples.columns:
            label2id = {label: i for i, label in enumerate(labels)}
            label_ids = [label2id[label] for label in examples.columns["label"]]
        augment = TrainAugmentation(processor, cfg.options) if training and cfg.options.augment else None
        to_pixels = augment or (lambda image: eval_pixels(processor, [image])[0])
        rows = ImageRows(examples.columns["image"], label_ids, to_pixels, list(range(len(examples))))
        return Encoded(rows, [1] * len(examples), NothingCut(), unit="images")

    def collator(self, processor, cfg: Config):
        from tailor.data.image_transforms import collate_images

        return collate_images

    def check(self, data: TaskData, processor, cfg: Config) -> dict:
        from tailor.data.image_check import image_report
        from tailor.data.image_transforms import processor_image_size

        return image_report(data, cfg, image_size=processor_image_size(processor))

    def report_sections(self, metrics: dict) -> list[tuple[str, str]]:
        from tailor.evaluation.report import class_sections, figure

        grid = _misclassified_png(metrics["eval"].get("misclassified") or [])
        return [*class_sections(metrics), ("Misclassified evaluation images (most confident first)", figure("", grid))]

    def load_model(self, folder: Path, **load_kwargs):
        from transformers import AutoModelForImageClassification

        register_own_architectures()
        return _channels_last(AutoModelForImageClassification.from_pretrained(folder, **load_kwargs))

    def explain(self, model, processor, examples: Examples, cfg: Config, *, steps: int = 50) -> list[dict]:
        """A heat map of each region's contribution to the logit of the predicted label."""
        from tailor.evaluation.explanations import explain_images

        return explain_images(model, processor, examples.columns["image"], examples.get("label"), steps=steps)

    def evaluate(self, model, processor, examples: Examples, cfg: Config, batch_size: int) -> dict:
        from tailor.evaluation.classification import classification_metrics

        truth, probabilities, labels = self.scored(model, processor, examples, cfg, batch_size)
        return {**classification_metrics(truth, probabilities, labels, resamples=cfg.eval.bootstrap),
                "misclassified": _misclassified(examples, truth, probabilities, labels)}

    def predict(self, model, processor, examples: Examples, cfg: Config, batch_size: int) -> list[dict]:
        return _named(examples, super().predict(model, processor, examples, cfg, batch_size))

    def predict_uncertain(self, model, processor, examples: Examples, cfg: Config, batch_size: int,
                          samples: int) -> list[dict]:
        return _named(examples, super().predict_uncertain(model, processor, examples, cfg, batch_size, samples))


def _named(examples: Examples, answers: list[dict]) -> list[dict]:
    """Each answer with the image it is for, first."""
    return [{"image": image.name(), **answer} for image, answer in zip(examples.columns["image"], answers)]


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
