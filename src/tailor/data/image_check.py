"""`tailor data check` for image classification: classes per split, image sizes and modes, and
exact copies (within train, and across splits, where they are leakage).

Memory stays flat: images are compared by the SHA-1 of their encoded bytes, read in chunks, never
decoded here (their size and mode were recorded when they were read).
"""

from __future__ import annotations

import hashlib
from collections import Counter

import numpy as np

from tailor.data.check import imbalance_advice
from tailor.data.images import ImageRef, count, mode_name

CHUNK = 1 << 20
EXAMPLES_SHOWN = 3  # names quoted per finding: enough to look at, short enough for one line


def image_report(data, cfg, image_size: int | None = None) -> dict:
    """Labelled images (a TaskData): rows, classes, sizes, modes, skips, duplicates, leakage.
    `image_size` is the model's input size, when known: smaller images are upscaled."""
    splits = {"train": data.train, "eval": data.eval, **({"test": data.test} if data.test is not None else {})}
    digests = {name: [digest(ref) for ref in examples.columns["image"]] for name, examples in splits.items()}
    every = [ref for examples in splits.values() for ref in examples.columns["image"]]
    report = {
        "rows": {**{name: len(examples) for name, examples in splits.items()}, "eval_source": data.eval_source},
        "format": list(data.info),
        "skipped": {name: dict(examples.skipped) for name, examples in splits.items()},
        "labels": {name: _distribution(examples.get("label") or [], data.labels) for name, examples in splits.items()},
        "sizes": size_stats(every, image_size),
        "modes": Counter(ref.mode for ref in every),
        "duplicates": _within(digests["train"], data.train.get("label"), data.train.where),
        "overlap": {name: _across(digests["train"], data.train.where, digests[name], splits[name].where)
                    for name in splits if name != "train"},
    }
    report["label_percent"] = {name: _percent(counts) for name, counts in report["labels"].items()}
    # which images were skipped, by name (the readers name a few per reason)
    report["warnings"] = _warnings(report) + [w for examples in splits.values() for w in examples.warnings]
    report["lines"] = _lines(report)
    return report


def digest(ref: ImageRef) -> bytes:
    """SHA-1 of the encoded image: the stored bytes, or the file read a chunk at a time."""
    if ref.data is not None:
        return hashlib.sha1(ref.data).digest()
    sha = hashlib.sha1()
    with open(ref.source, "rb") as handle:
        while chunk := handle.read(CHUNK):
            sha.update(chunk)
    return sha.digest()


def size_stats(images: list[ImageRef], image_size: int | None) -> dict:
    """Width and height (min, median, max) as stored; how many have a side below image_size."""
    if not images:
        return {"width": {}, "height": {}, "image_size": image_size, "smaller": 0}
    widths = np.array([ref.width for ref in images])
    heights = np.array([ref.height for ref in images])
    stats = {side: {"min": int(values.min()), "median": int(np.median(values)), "max": int(values.max())}
             for side, values in (("width", widths), ("height", heights))}
    smaller = int((np.minimum(widths, heights) < image_size).sum()) if image_size else 0
    return {**stats, "image_size": image_size, "smaller": smaller}


def _distribution(labels: list[str], known: list[str]) -> dict[str, int]:
    """Images per class, largest first; a class of the label set absent from a split shows as 0."""
    counts = Counter({label: 0 for label in known})
    counts.update(labels)
    return dict(counts.most_common()) if labels else {}


def _percent(counts: dict[str, int]) -> dict[str, float]:
    total = sum(counts.values())
    return {label: round(100 * n / total, 1) for label, n in counts.items()} if total else {}


def _within(digests: list[bytes], labels: list[str] | None, where: list[str]) -> dict:
    """Exact copies inside train: how many are extra copies, and how many groups disagree on the label."""
    groups: dict[bytes, list[int]] = {}
    for index, key in enumerate(digests):
        groups.setdefault(key, []).append(index)
    repeated = [members for members in groups.values() if len(members) > 1]
    conflicting = [members for members in repeated if labels and len({labels[i] for i in members}) > 1]

    def named(members: list[int]) -> str:
        return " = ".join(where[i] + (f" ({labels[i]})" if labels else "") for i in members[:EXAMPLES_SHOWN])

    return {"repeated_images": len(digests) - len(groups), "groups": len(repeated),
            "conflicting_labels": len(conflicting), "examples": [named(m) for m in repeated[:EXAMPLES_SHOWN]],
            "conflict_examples": [named(m) for m in conflicting[:EXAMPLES_SHOWN]]}


def _across(train: list[bytes], train_where: list[str], other: list[bytes], other_where: list[str]) -> dict:
    """Images of another split that are exact copies of a training image."""
    first = {}
    for index, key in enumerate(train):
        first.setdefault(key, index)
    copies = [(i, first[key]) for i, key in enumerate(other) if key in first]
    return {"images": len(copies),
            "examples": [f"{other_where[i]} = train {train_where[j]}" for i, j in copies[:EXAMPLES_SHOWN]]}


def _warnings(report: dict) -> list[str]:
    warnings = imbalance_advice(report["labels"]["train"], report["labels"].get("eval", {}), "images")
    for split, skipped in report["skipped"].items():
        if skipped:
            n = sum(skipped.values())
            warnings.append(f"{split}: {count(n, 'image')} cannot be used (" +
                            ", ".join(f"{n} with {why}" for why, n in skipped.items()) +
                            "); training stops at the first unless data.on_invalid=skip, which skips them")
    duplicates = report["duplicates"]
    if duplicates["conflicting_labels"]:
        n = duplicates["conflicting_labels"]
        warnings.append(f"{count(n, 'image')} {'appears' if n == 1 else 'appear'} in train under different labels "
                        f"(e.g. {'; '.join(duplicates['conflict_examples'])}); check the labelling")
    for split, overlap in report["overlap"].items():
        if n := overlap["images"]:
            copies = "image is an exact copy of a training image" if n == 1 else \
                "images are exact copies of training images"
            warnings.append(f"{n} {split} {copies} (e.g. {'; '.join(overlap['examples'])}): the {split} scores "
                            "will look better than the model is; remove the copies from one side")
    return warnings


def _lines(report: dict) -> list[str]:
    """The report as `tailor data check` prints it."""
    rows = report["rows"]
    lines = list(report["format"])
    lines.append("rows: " + "  ".join(f"{name} {rows[name]:,}" for name in report["skipped"]) +
                 f"  ({rows['eval_source']})")
    for split, counts in report["labels"].items():
        if counts:
            share = report["label_percent"][split]
            lines.append(f"images per class ({split}): " + ", ".join(f"{label} {n} ({share[label]:.0f}%)"
                                                                     for label, n in counts.items()))
    lines += _size_lines(report["sizes"])
    modes = report["modes"]
    converted = [f"{n} {mode_name(mode)}" for mode, n in modes.most_common() if mode != "RGB"]
    lines.append(f"stored as: RGB {modes.get('RGB', 0)}" + (f"; converted to RGB: {', '.join(converted)}"
                                                            if converted else ""))
    lines.append("unreadable/skipped: " + "  ".join(f"{split} {sum(skipped.values())}"
                                                    for split, skipped in report["skipped"].items()))
    duplicates = report["duplicates"]
    lines.append(f"duplicates in train: {duplicates['repeated_images']} repeated images, "
                 f"{duplicates['conflicting_labels']} with conflicting labels")
    for split, overlap in report["overlap"].items():
        shown = f" (e.g. {'; '.join(overlap['examples'])})" if overlap["examples"] else ""
        lines.append(f"train/{split} overlap: {count(overlap['images'], 'identical image')}{shown}")
    return lines


def _size_lines(sizes: dict) -> list[str]:
    if not sizes["width"]:
        return []
    width, height = sizes["width"], sizes["height"]
    line = (f"image sizes (width x height): min {width['min']}x{height['min']}  median {width['median']}x"
            f"{height['median']}  max {width['max']}x{height['max']}")
    if sizes["image_size"]:
        line += f";  {sizes['smaller']} with a side under {sizes['image_size']} px (upscaled to the model's input)"
    return [line]

