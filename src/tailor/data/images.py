"""Image-classification data: a folder with one sub-folder per class (optionally under split
folders train/validation/test), a table with an image column, or a `datasets` folder with an
Image feature.

Every image is decoded once at read time, so a broken file stops `tailor train` before any model
is loaded, with one line naming it; afterwards an ImageRef re-opens it on demand (memory stays
flat). A reader never imports a model.
"""

from __future__ import annotations

import io
import os
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterable

from PIL import Image, UnidentifiedImageError

from tailor.data.examples import Examples, normalize_label, require_column
from tailor.data.readers import read_table, suggest_sibling
from tailor.errors import DataError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
_SUFFIX_LIST = ".jpg .jpeg .png .bmp .gif .webp .tif .tiff"
# Folder names of a split layout, per split tailor reads.
SPLIT_FOLDERS = {"train": ("train",), "validation": ("validation", "val", "valid", "dev"), "test": ("test",)}
_SPLIT_OF = {alias: split for split, aliases in SPLIT_FOLDERS.items() for alias in aliases}
UNREADABLE_FIX = "Replace or delete the file, or set data.on_invalid=skip to skip unreadable images"
SKIPPED_NAMED = 3  # with data.on_invalid=skip: the skipped images named per reason, so they can be found
_ROW_FIX = "Fill it in or remove the row (or set data.on_invalid=skip to skip such rows)"
_MODE_NAMES = {"L": "grey (L)", "1": "black-and-white (1)", "P": "palette (P)", "CMYK": "CMYK",
               "RGBA": "RGBA (transparency composited on white)", "LA": "grey with transparency (LA, composited "
               "on white)", "I": "32-bit grey (I, scaled to 8 bits)", "F": "floating-point grey (F, scaled to 8 bits)"}


@dataclass(frozen=True)
class ImageRef:
    """One image: a file, or encoded bytes stored inside a data file (`where` then locates the row).
    Size and mode are those stored, recorded when the image was checked."""

    source: Path
    where: str | None = None
    data: bytes | None = field(default=None, repr=False)
    width: int = 0
    height: int = 0
    mode: str = ""

    def name(self) -> str:
        return str(self.source) if self.where is None else f"{self.source} {self.where}"

    def open(self) -> Image.Image:
        """The image as stored, pixels not yet decoded; use it in a `with` block."""
        return Image.open(io.BytesIO(self.data) if self.data is not None else self.source)

    def load(self) -> Image.Image:
        """Decoded, upright, in RGB (what every image model is pretrained on)."""
        with self.open() as img:
            return to_rgb(upright(img))

    def thumbnail(self, size: int) -> Image.Image:
        """RGB, fitting in size x size (the report's grid of misclassified images)."""
        with self.open() as img:
            if img.format == "JPEG":
                img.draft(img.mode, (size, size))  # libjpeg decodes at 1/2..1/8 scale: much less work
            rgb = to_rgb(upright(img))
        rgb.thumbnail((size, size))
        return rgb


def upright(img: Image.Image) -> Image.Image:
    """The image as a viewer shows it: phone cameras store pixels sideways and an EXIF orientation tag
    saying how to turn them, which Pillow (and so the model) would otherwise ignore."""
    from PIL import ImageOps

    return ImageOps.exif_transpose(img) if img.getexif().get(0x0112, 1) != 1 else img


def to_rgb(img: Image.Image) -> Image.Image:
    """A new RGB image, whatever mode is stored."""
    if img.mode in ("I", "F") or img.mode.startswith("I;"):
        img = _grey_to_8bit(img)
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info:
        # A transparent pixel keeps whatever colour the encoder left there (often black): composite
        # on white, as a viewer shows it, so the model sees the picture and not that noise.
        rgba = img.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba).convert("RGB")
    return img.convert("RGB")  # L, 1, P, CMYK, YCbCr; a copy for RGB


def _grey_to_8bit(img: Image.Image) -> Image.Image:
    """16-bit, 32-bit and float grey scaled to 0..255: Pillow's own conversion clips instead, which
    turns most 16-bit images (TIFF scans, PNG depth maps) white."""
    import numpy as np

    values = np.asarray(img, dtype=np.float64)
    top = float(values.max(initial=0))
    if img.mode == "F":
        full = 1.0 if top <= 1.0 else 255.0  # floats are usually 0..1
    elif img.mode.startswith("I;16"):
        full = 65535.0
    else:  # 32-bit: the range the values use
        full = 255.0 if top <= 255 else 65535.0 if top <= 65535 else top
    return Image.fromarray(np.clip(values * (255.0 / full), 0, 255).round().astype(np.uint8))


class UnreadableImage(Exception):
    """Pillow cannot decode the image; the message is Pillow's reason, shortened."""


def probe(ref: ImageRef) -> ImageRef:
    """The ref with its stored size and mode, after decoding every byte: Pillow reports a truncated
    file only when the pixels are loaded. Raises UnreadableImage."""
    try:
        with ref.open() as img:
            width, height, mode = img.size[0], img.size[1], img.mode
            if img.format == "JPEG":
                # 1/8 scale: libjpeg still reads the whole stream (so truncation is still caught)
                # but skips most of the inverse DCT, several times faster on photos.
                img.draft(img.mode, (max(1, width // 8), max(1, height // 8)))
            img.load()
    except Exception as exc:  # Pillow's decoders raise many types on bad bytes (OSError, SyntaxError ...)
        raise UnreadableImage(_reason(exc)) from exc
    return replace(ref, width=width, height=height, mode=mode)


def _reason(exc: Exception) -> str:
    if isinstance(exc, UnidentifiedImageError):
        return "unknown image format"  # Pillow's message only repeats the file name
    text = str(exc)
    if "truncated" in text.lower():  # "image file is truncated (N bytes not processed)", "Truncated File Read"
        return "image file is truncated"
    return text or type(exc).__name__


class _Skip(Exception):
    """A bad example: raise `error`, or with on_invalid=skip count it under `reason`."""

    def __init__(self, reason: str, error: DataError):
        super().__init__(reason)
        self.reason, self.error = reason, error


def _checked(ref: ImageRef, unreadable: Callable[[str], DataError]) -> ImageRef:
    try:
        return probe(ref)
    except UnreadableImage as exc:
        raise _Skip("unreadable image", unreadable(str(exc))) from exc


class _Collected:
    """Examples as they are read: each one checked; a bad one raises, or is counted when skipping."""

    def __init__(self, path: Path, on_invalid: str):
        self.path, self.skip, self.skipped = path, on_invalid == "skip", Counter()
        self.images, self.labels, self.where = [], [], []
        self.skipped_names: dict[str, list[str]] = {}  # reason -> the first few skipped, to look at

    @contextmanager
    def example(self):
        try:
            yield
        except _Skip as bad:
            if not self.skip:
                raise bad.error from bad.__cause__
            self.skipped[bad.reason] += 1
            named = self.skipped_names.setdefault(bad.reason, [])
            if len(named) < SKIPPED_NAMED:
                error = bad.error  # a table's row, or an image file's path below the folder
                named.append(error.where or os.path.relpath(error.file, self.path))

    def add(self, where: str, ref: ImageRef, label: str | None) -> None:
        self.images.append(ref)
        self.where.append(where)
        if label is not None:
            self.labels.append(label)

    def examples(self, targets: bool, notes: list[str], *, modes_note: bool = True) -> Examples:
        if not self.where:
            reasons = ", ".join(f"{n} with {why}" for why, n in self.skipped.items())
            raise DataError(self.path, f"every image was skipped ({reasons})", "Check the images and the settings")
        columns = {"image": self.images, **({"label": self.labels} if targets else {})}
        conversion = conversion_note(self.images) if modes_note else None
        named = [f"{self.path.name}: skipped for {reason}: {', '.join(names)}"
                 f"{' ...' if self.skipped[reason] > len(names) else ''}" for reason, names in self.skipped_names.items()]
        return Examples(self.path, columns, self.where, self.skipped, notes + ([conversion] if conversion else []),
                        warnings=named)


def read_images(path: Path, cfg, *, targets: bool = True, split: str = "train") -> Examples:
    """Images (and labels, when `targets`) from a class folder, a split folder, a table with an
    image column or a `datasets` folder; every image checked (see probe)."""
    path = Path(path)
    if path.is_dir():
        if (path / "dataset_info.json").exists() or (path / "dataset_dict.json").exists():
            return _read_datasets_folder(path, cfg, targets, split)
        examples = _read_folder(path, targets, split, cfg.data.on_invalid)
        validation = _split_named(path, "validation") if split == "train" and isinstance(cfg.data.eval, float) else None
        if validation:  # the user's own validation images would otherwise be silently unused
            examples.warnings.append(f"{path.name}/{validation.name} is not used: data.eval holds out {cfg.data.eval:g} "
                                     f"of train instead; set data.eval to {path} to evaluate on it")
        return examples
    if path.suffix.lower() in IMAGE_SUFFIXES:
        if not targets:
            raise DataError(path, "is a single image", "Give it with --image PATH; --data takes a folder of images "
                            "or a table (.csv .jsonl .parquet) with an image column")
        raise DataError(path, "is a single image", "Give a folder with one sub-folder of images per class, or a "
                        "table (.csv .jsonl .parquet) with an image column and a label column")
    return _read_table(path, cfg, targets, split)


def images_from_paths(paths: list[str | Path]) -> Examples:
    """`tailor predict --image PATH ...`: image files, or folders of them (labels not read)."""
    if not paths:
        raise DataError("--image", "no image given", "Give one or more image files or folders")
    common = Path(paths[0]) if len(paths) == 1 else Path(os.path.commonpath([os.path.abspath(p) for p in paths]))
    out, notes = _Collected(common, "error"), []
    for number, path in enumerate(map(Path, paths), start=1):
        if not path.exists():
            raise DataError(path, "file not found", suggest_sibling(path))
        if path.is_dir():
            folder = _read_folder(path, False, "train", "error", modes_note=False)  # one note for all, below
            out.images += folder.columns["image"]
            out.where += folder.where
            notes += folder.notes
            continue
        with out.example():
            out.add(f"image {number}", _checked(ImageRef(path), lambda reason: DataError(
                path, f"cannot be read as an image ({reason})", f"Give an image file ({_SUFFIX_LIST})")), None)
    return out.examples(False, notes)


# ---- folders -------------------------------------------------------------------------------------

def _read_folder(top: Path, targets: bool, split: str, on_invalid: str, *, modes_note: bool = True) -> Examples:
    # Inputs to predict: every image below the folder, whatever its layout (split folders included).
    folder, layout, ignored = _split_folder(top, split) if targets else (top, "image folder", Counter())
    if targets:
        files, labels, classes, more = _class_images(folder, split)
        layout += f", {len(classes)} classes"
    else:
        files, more = _walk(folder)
        labels = [None] * len(files)
        if not files:
            raise DataError(folder, "has no images", f"Give a folder of images ({_SUFFIX_LIST})")
        class_folders = {rel.parts[0] for rel in (file.relative_to(folder) for file in files) if len(rel.parts) > 1}
        layout += f", {len(class_folders)} class folders (labels not read)" if class_folders else ""
    out = _Collected(folder, on_invalid)
    for file, label in zip(files, labels):
        with out.example():
            out.add(file.relative_to(folder).as_posix(), _checked(ImageRef(file), lambda reason: DataError(
                file, f"cannot be read as an image ({reason})", UNREADABLE_FIX)), label)
    prefix, ignored = split if targets else folder.name, ignored + more
    notes = [f"{prefix}: {layout}, {count(len(out.where), 'image')}"]
    if ignored:  # hidden files are left out silently: .DS_Store, .ipynb_checkpoints are never data
        total, kinds = sum(ignored.values()), ", ".join(suffix for suffix, _ in ignored.most_common())
        are = "is not an image" if total == 1 else "are not images"
        notes.append(f"{prefix}: ignored {count(total, 'file')} that {are} ({kinds})")
    return out.examples(targets, notes, modes_note=modes_note)


def _split_folder(top: Path, split: str) -> tuple[Path, str, Counter]:
    """The folder holding the class folders (`top`, or its folder for `split`), a description of the
    layout, and the suffixes of the files at the top that are not images."""
    entries = _visible(top)
    folders = [p for p in entries if p.is_dir()]
    # A split folder holds class folders; a folder of images named "train" (a vehicle class) is a class.
    splits = {p: _SPLIT_OF[p.name.lower()] for p in folders if p.name.lower() in _SPLIT_OF and _holds_folders(p)}
    # A class may be called "test" or "dev": split folders are taken as such only beside a train
    # folder, or when there is nothing else.
    if not splits or (len(splits) < len(folders) and "train" not in splits.values()):
        return top, "image folder", Counter()
    others, names = [p.name for p in folders if p not in splits], ", ".join(p.name for p in splits)
    if others:
        raise DataError(top, f"has split folders ({names}) and other folders ({', '.join(others)})",
                        "Move the other folders into a split folder (each holds one sub-folder per class), or "
                        "delete them")
    images, ignored = _files(entries)
    if images:
        raise DataError(top, f"has {count(len(images), 'image')} directly in it (e.g. {images[0].name}), next "
                        f"to the split folders ({names})", "Move each into a class folder inside a split folder, "
                        "or delete them")
    wanted = _SPLIT_OF.get(split.lower(), split)
    chosen = [p for p, name in splits.items() if name == wanted]
    fix = {"validation": "Add a validation (or val) folder with one sub-folder per class, or leave data.eval unset "
                         "to hold out a fraction of train",
           "test": "Add a test folder with one sub-folder per class, or point data.test to another folder"}
    if len(chosen) != 1:
        problem = f"has no {wanted} folder (split folders found: {names})" if not chosen else \
            f"has {len(chosen)} {wanted} folders ({', '.join(p.name for p in chosen)})"
        raise DataError(top, problem, fix.get(wanted, f"Add a {wanted} folder with one sub-folder per class")
                        if not chosen else "Keep one of them")
    return chosen[0], f"split folder '{chosen[0].name}' of image folder {top.name} (splits: {names})", ignored


def _split_named(top: Path, split: str) -> Path | None:
    """The folder of `split` when `top` is a split layout (see _split_folder), else None."""
    folders = [p for p in _visible(top) if p.is_dir() and _holds_folders(p)]
    if not any(_SPLIT_OF.get(p.name.lower()) == "train" for p in folders):
        return None
    return next((p for p in folders if _SPLIT_OF.get(p.name.lower()) == split), None)


def _holds_folders(folder: Path) -> bool:
    entries = _visible(folder)
    return any(p.is_dir() for p in entries) and not _files(entries)[0]


def _class_images(folder: Path, split: str) -> tuple[list[Path], list[str], list[str], Counter]:
    """Images below each class folder, their labels (the folder names), the classes, and the
    suffixes of the files that are not images."""
    entries = _visible(folder)
    classes, (loose, ignored) = [p for p in entries if p.is_dir()], _files(entries)
    if not classes:
        if not loose:
            raise DataError(folder, "has no images", f"Give a folder with one sub-folder of images per class "
                            f"({_SUFFIX_LIST})")
        raise DataError(folder, f"has {count(len(loose), 'image')} but no class folders", "Put the images in "
                        "one sub-folder per class (e.g. cat/, dog/): the sub-folder names are the labels")
    if loose:
        raise DataError(folder, f"has {count(len(loose), 'image')} directly in it (e.g. {loose[0].name}), next "
                        "to the class folders", "Move each into its class folder (the sub-folder names are the "
                        "labels), or delete them")
    # Only train must have two classes: an evaluation folder may hold the images of one class.
    if len(classes) == 1 and split == "train":
        raise DataError(folder, f"has one class folder ('{classes[0].name}'); a classifier needs at least two "
                        "classes", "Give one sub-folder of images per class")
    files, labels = [], []
    for cls in classes:
        images, other = _walk(cls)
        if not images:
            found = f", only {count(sum(other.values()), 'other file')} ({', '.join(other)})" if other else ""
            raise DataError(cls, f"the class folder has no images{found}", "Add images to it or delete the folder")
        files += images
        labels += [cls.name] * len(images)
        ignored += other
    return files, labels, [c.name for c in classes], ignored


def _visible(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if not p.name.startswith("."))


def _files(paths: Iterable[Path]) -> tuple[list[Path], Counter]:
    """The images among the files `paths` (by suffix), and the suffixes of the other files."""
    images, other = [], Counter()
    for path in (p for p in paths if not p.is_dir()):
        if path.suffix.lower() in IMAGE_SUFFIXES:
            images.append(path)
        else:
            other[path.suffix.lower() or "no extension"] += 1
    return images, other


def _walk(folder: Path) -> tuple[list[Path], Counter]:
    """Images anywhere below `folder` (hidden files and folders left out), sorted by relative path,
    and the suffixes of the other files."""
    found = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found += [Path(root, name) for name in names if not name.startswith(".")]
    images, other = _files(found)
    return sorted(images, key=lambda p: p.relative_to(folder).as_posix()), other


# ---- tables and `datasets` folders ----------------------------------------------------------------

def _read_table(path: Path, cfg, targets: bool, split: str) -> Examples:
    table = read_table(path, encoding=cfg.data.encoding, split=split)
    _require_columns(path, table.columns, cfg, targets, "file")
    rows = ((where, row.get(cfg.data.image), row.get(cfg.data.label)) for row, where in zip(table.rows, table.where))
    out = _read_rows(path, path.parent, rows, cfg, targets, normalize_label)
    stored = sum(ref.data is not None for ref in out.images)
    layout = f"table {path.name}" + (f", {len(set(out.labels))} classes" if targets else "")
    return out.examples(targets, [f"{split if targets else path.name}: {layout}, {count(len(out.where), 'image')}"
                                  + (f" ({stored} stored in the file)" if stored else "")])


def _read_datasets_folder(folder: Path, cfg, targets: bool, split: str) -> Examples:
    from datasets import ClassLabel, DatasetDict, Image as ImageFeature, load_from_disk

    loaded, picked = load_from_disk(str(folder)), ""
    if isinstance(loaded, DatasetDict):
        wanted = _SPLIT_OF.get(split.lower(), split)
        # As readers._read_datasets_folder: evaluation falls back to validation, then test.
        names = SPLIT_FOLDERS.get(wanted, (wanted,)) + (() if wanted == "train" else
                                                         SPLIT_FOLDERS["validation"] + SPLIT_FOLDERS["test"])
        picked = next((name for name in names if name in loaded), "")
        if not picked:
            raise DataError(folder, f"has splits {list(loaded)} but none named {' or '.join(dict.fromkeys(names))}",
                            "Save the split you want under that name, or point to it directly")
        loaded = loaded[picked]
    features, column, found = loaded.features, cfg.data.image, ""
    if column not in features:
        image_columns = [name for name, feature in features.items() if isinstance(feature, ImageFeature)]
        if len(image_columns) == 1:  # the usual case: one Image feature, whatever it is called
            column, found = image_columns[0], f" (its Image feature; there is no column '{cfg.data.image}')"
    _require_columns(folder, list(features), cfg, targets, "dataset", image=column)
    if isinstance(features[column], ImageFeature):
        loaded = loaded.cast_column(column, ImageFeature(decode=False))  # {"bytes", "path"}, not PIL images
    label_of, class_names = normalize_label, ""
    if targets and isinstance(features[cfg.data.label], ClassLabel):
        names = features[cfg.data.label].names
        label_of, class_names = (lambda v: names[v] if isinstance(v, int) and 0 <= v < len(names) else None,
                                 " (ClassLabel: class names used)")  # -1 is ClassLabel's "no label"
    selected = loaded.select_columns([column] + ([cfg.data.label] if targets else []))
    out = _read_rows(folder, folder, _dataset_rows(selected, column, cfg.data.label if targets else None),
                     cfg, targets, label_of)
    classes = f", label column '{cfg.data.label}'{class_names}, {len(set(out.labels))} classes" if targets else ""
    where = f" (split '{picked}')" if picked else ""
    return out.examples(targets, [f"{split if targets else folder.name}: datasets folder{where}, image column "
                                  f"'{column}'{found}{classes}, {count(len(out.where), 'image')}"])


def _dataset_rows(dataset, image: str, label: str | None, batch: int = 256):
    """(where, image value, label value) per row, a batch at a time (the dataset stays memory-mapped)."""
    number = 0
    for columns in dataset.iter(batch_size=batch):
        for value, label_value in zip(columns[image], columns[label] if label else [None] * len(columns[image])):
            number += 1
            yield f"row {number}", value, label_value


def _require_columns(path: Path, columns: list[str], cfg, targets: bool, what: str, image: str | None = None):
    require_column(path, columns, image or cfg.data.image, "data.image", what)
    if targets:
        require_column(path, columns, cfg.data.label, "data.label", what)


def _read_rows(path: Path, base: Path, rows: Iterable[tuple], cfg, targets: bool, label_of) -> _Collected:
    """Check each row's label and image; `base` is the folder relative image paths start from."""
    out = _Collected(path, cfg.data.on_invalid)
    for where, value, raw_label in rows:
        with out.example():
            label = label_of(raw_label) if targets else None
            if targets and label is None:  # checked first: it costs nothing, decoding does
                raise _Skip("the label is empty", DataError(path, "the label is empty", _ROW_FIX, where=where,
                                                            field=cfg.data.label))
            out.add(where, _row_image(path, base, value, where, cfg.data.image), label)
    return out


def _row_image(path: Path, base: Path, value, where: str, column: str) -> ImageRef:
    """A row's image: a path (relative to `base`, or absolute), or encoded bytes stored in the file."""
    if isinstance(value, dict):  # {"bytes", "path"}: how Hugging Face stores images in Parquet and Arrow
        # Bytes win: a stored path usually names a file on the machine that made the export.
        value = bytes(value["bytes"]) if value.get("bytes") else value.get("path")
    if isinstance(value, (bytes, bytearray)):
        return _checked(ImageRef(path, where, bytes(value)), lambda reason: DataError(
            path, f"the image stored in the row cannot be read as an image ({reason})", "Replace or remove the row, "
            "or set data.on_invalid=skip to skip unreadable images", where=where, field=column))
    if value is None or (isinstance(value, str) and not value.strip()):
        raise _Skip("the image is empty", DataError(path, "the image is empty", _ROW_FIX, where=where, field=column))
    if not isinstance(value, str):
        raise _Skip("the image is not a path", DataError(
            path, f"expected an image path, got {type(value).__name__} {str(value)[:40]}",
            "Give the image file's path, relative to the data file's folder", where=where, field=column))
    file = Path(value.strip()).expanduser()
    file = file if file.is_absolute() else base / file
    if not file.is_file():
        raise _Skip("image file not found", DataError(
            path, f"image file {value} not found", f"Image paths are relative to the data file's folder ({base}); "
            "correct the path, or set data.on_invalid=skip to skip rows whose image is missing",
            where=where, field=column))
    return _checked(ImageRef(file), lambda reason: DataError(
        path, f"image file {value} cannot be read as an image ({reason})", UNREADABLE_FIX, where=where, field=column))


# ---- notes ---------------------------------------------------------------------------------------

def conversion_note(images: list[ImageRef]) -> str | None:
    """One line: how many images are stored in a mode other than RGB, per mode."""
    modes = Counter(ref.mode for ref in images if ref.mode != "RGB")
    if not modes:
        return None
    total, parts = sum(modes.values()), ", ".join(f"{n} {mode_name(mode)}" for mode, n in modes.most_common())
    return f"{count(total, 'image')} {'is' if total == 1 else 'are'} converted to RGB: {parts}"


def mode_name(mode: str) -> str:
    return f"16-bit grey ({mode}, scaled to 8 bits)" if mode.startswith("I;16") else _MODE_NAMES.get(mode, mode)


def count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
