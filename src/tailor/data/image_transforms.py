"""Images -> pixel tensors: the model's own preprocessing for evaluation, augmented crops for training.

Evaluation and prediction use the model's image processor exactly as saved with it (resize, centre
crop, rescale, normalise), through its PIL backend: transformers' faster torchvision backend would
need torchvision, which tailor keeps out of the install. Training draws a random resized crop, a flip
and a colour jitter per image with kornia (pure PyTorch; the same library will move boxes and masks
along with the pixels for detection and segmentation), then normalises with the processor's own mean
and standard deviation, so both paths feed the model the same value range.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch



def load_image_processor(location: str, image_size: int | None = None, **load_kwargs):
    """The model's image processor (PIL backend); `image_size` replaces the size it crops or resizes
    to (the short side is resized in the same proportion, as the processor would)."""
    from transformers import AutoImageProcessor

    from tailor.errors import ModelError

    try:
        processor = AutoImageProcessor.from_pretrained(location, backend="pil", **load_kwargs)
    except (OSError, ValueError) as exc:
        raise ModelError(f"{location} has no image processor (preprocessor_config.json) that transformers can "
                         f"load ({str(exc).splitlines()[0]}); give an image model folder saved with "
                         "save_pretrained, with its image processor") from exc
    if image_size is not None and image_size != processor_image_size(processor):
        resize_processor(processor, image_size)
    return processor


def processor_image_size(processor) -> int:
    """The side of the square the model sees (the crop if the processor crops, else the resize)."""
    crop = getattr(processor, "crop_size", None) if getattr(processor, "do_center_crop", False) else None
    size = _as_dict(crop) or _as_dict(getattr(processor, "size", None))
    side = size.get("height") or size.get("shortest_edge") or size.get("width")
    if not side:
        raise ValueError(f"cannot tell the input size of {type(processor).__name__} from its size {size}")
    return int(side)


def resize_processor(processor, side: int) -> None:
    """Make the processor produce side x side inputs, keeping its resize-then-crop ratio."""
    size = _as_dict(processor.size)
    if getattr(processor, "do_center_crop", False) and getattr(processor, "crop_size", None):
        ratio = (size.get("shortest_edge") or size.get("height")) / processor_image_size(processor)
        processor.crop_size = {"height": side, "width": side}
        resized = round(side * ratio)
        processor.size = {"shortest_edge": resized} if "shortest_edge" in size else {"height": resized, "width": resized}
    elif "shortest_edge" in size:  # ConvNeXt-style: its crop_pct applies at the new size too
        processor.size = {"shortest_edge": side}
    else:
        processor.size = {"height": side, "width": side}


def _as_dict(size: Any) -> dict:
    if size is None:
        return {}
    if isinstance(size, dict):
        return {k: v for k, v in size.items() if v}
    return {k: getattr(size, k) for k in ("height", "width", "shortest_edge", "longest_edge") if getattr(size, k, None)}


def eval_pixels(processor, images: list) -> torch.Tensor:
    """(N, 3, H, W) float pixels, preprocessed as the model was pretrained (and as it will be served)."""
    return processor(images=images, return_tensors="pt")["pixel_values"]


class TrainAugmentation:
    """Random resized crop (the Inception recipe, scale and aspect ratio configurable), horizontal and
    vertical flips and colour jitter, drawn per image from torch's RNG (seeded by the trainer), then
    the processor's normalisation."""

    def __init__(self, processor, options):
        import kornia.augmentation as K

        self.side = processor_image_size(processor)
        steps = [K.RandomResizedCrop((self.side, self.side), scale=tuple(options.crop_scale),
                                     ratio=tuple(options.crop_ratio), resample="bicubic", align_corners=False)]
        if options.hflip:
            steps.append(K.RandomHorizontalFlip(p=options.hflip))
        if options.vflip:
            steps.append(K.RandomVerticalFlip(p=options.vflip))
        if options.color_jitter:
            strength = options.color_jitter
            steps.append(K.ColorJitter(brightness=strength, contrast=strength, saturation=strength, p=0.8))
        self.steps = torch.nn.Sequential(*steps)
        self.scale, self.offset = _rescaling(processor)
        self.mean, self.std = _normalisation(processor)

    def __call__(self, image) -> torch.Tensor:
        """One PIL RGB image -> (3, side, side) pixels, rescaled and normalised as the processor does."""
        image = _shrink(image, 2 * self.side)
        pixels = torch.from_numpy(np.array(image, dtype=np.float32) / 255.0).permute(2, 0, 1).unsqueeze(0)
        with torch.no_grad():
            pixels = self.steps(pixels).clamp_(0.0, 1.0)[0]  # kornia works on values in [0, 1]
        return (pixels * self.scale - self.offset - self.mean) / self.std


def _shrink(image, short_side: int):
    """A large photo is reduced first (a crop of it is resized to the model's size anyway): the
    random crop then works on far fewer pixels, with no visible loss at the model's input size."""
    width, height = image.size
    if min(width, height) <= short_side:
        return image
    scale = short_side / min(width, height)
    from PIL import Image

    return image.resize((max(1, round(width * scale)), max(1, round(height * scale))), Image.Resampling.BILINEAR,
                        reducing_gap=2.0)


def _rescaling(processor) -> tuple[float, float]:
    """From [0, 1] to what the processor's rescale step makes of 0..255 values: x * factor, minus 1
    where it rescales with an offset (EfficientNet's processor maps to [-1, 1] that way)."""
    if not getattr(processor, "do_rescale", True):
        return 255.0, 0.0
    factor = 255.0 * getattr(processor, "rescale_factor", 1 / 255)
    return factor, 1.0 if getattr(processor, "rescale_offset", False) else 0.0


def _normalisation(processor) -> tuple[torch.Tensor, torch.Tensor]:
    """The processor's mean and std as (3, 1, 1) tensors (0 and 1 when it does not normalise)."""
    if not getattr(processor, "do_normalize", True):
        return torch.zeros(3, 1, 1), torch.ones(3, 1, 1)
    mean = np.broadcast_to(np.asarray(processor.image_mean, dtype=np.float32), (3,)).copy()
    std = np.broadcast_to(np.asarray(processor.image_std, dtype=np.float32), (3,)).copy()
    return torch.from_numpy(mean).view(3, 1, 1), torch.from_numpy(std).view(3, 1, 1)


def collate_images(rows: list[dict]) -> dict:
    """Rows of equal-sized pixels (and labels, when given) -> a batch."""
    batch = {"pixel_values": torch.stack([row["pixel_values"] for row in rows])}
    if rows and "labels" in rows[0]:
        batch["labels"] = torch.tensor([row["labels"] for row in rows], dtype=torch.long)
    return batch
