"""Image-classification data: the three layouts, mode conversion, every error's exact line, skips
counted, prediction inputs, and the data-check report. Fixtures are tiny images written here."""

from __future__ import annotations

import io
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tailor.config import Config
from tailor.data.examples import skipped_summary
from tailor.data.image_check import image_report
from tailor.data.images import ImageRef, images_from_paths, probe, read_images, UnreadableImage
from tailor.data.loading import TaskData
from tailor.errors import DataError

UNREADABLE_FIX = "Replace or delete the file, or set data.on_invalid=skip to skip unreadable images"
SUFFIXES = ".jpg .jpeg .png .bmp .gif .webp .tif .tiff"


def cfg(**data) -> Config:
    return Config(task="image-classification", data={"train": "train", **data})


def photo(path: Path, seed: int = 0, size=(16, 12), fmt: str | None = None) -> Path:
    """A noise image (distinct bytes per seed, so no accidental duplicates)."""
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, fmt)
    return path


def encoded(seed: int = 0, fmt: str = "PNG", size=(8, 6)) -> bytes:
    buffer = io.BytesIO()
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(buffer, fmt)
    return buffer.getvalue()


def class_folder(root: Path, classes: dict[str, int], seed: int = 0) -> Path:
    """root/<class>/<i>.jpg: the same basenames in every class, as in real exports."""
    for offset, (name, count) in enumerate(classes.items()):
        for i in range(count):
            photo(root / name / f"{i + 1}.jpg", seed=seed + 100 * offset + i)
    return root


def error_of(call) -> str:
    with pytest.raises(DataError) as caught:
        call()
    return str(caught.value)


# ---- layouts -------------------------------------------------------------------------------------

def test_class_folder_labels_where_sizes_and_ignored_files(tmp_path):
    root = tmp_path / "pets"
    photo(root / "cat" / "1.jpg", 1, size=(20, 10))
    photo(root / "cat" / "2.png", 2, size=(8, 8))
    photo(root / "dog" / "1.jpg", 3)
    photo(root / "dog" / "puppies" / "2.jpg", 4)  # images anywhere below the class folder
    (root / "dog" / "notes.txt").write_text("not an image")
    (root / "README.md").write_text("about")
    (root / "cat" / ".DS_Store").write_bytes(b"\0")  # hidden: ignored silently
    photo(root / ".thumbnails" / "x.jpg", 5)
    examples = read_images(root, cfg())
    assert examples.where == ["cat/1.jpg", "cat/2.png", "dog/1.jpg", "dog/puppies/2.jpg"]
    assert examples.columns["label"] == ["cat", "cat", "dog", "dog"]
    first, second = examples.columns["image"][:2]
    assert (first.source, first.width, first.height, first.mode) == (root / "cat" / "1.jpg", 20, 10, "RGB")
    assert (second.width, second.height) == (8, 8)
    assert examples.notes == ["train: image folder, 2 classes, 4 images",
                              "train: ignored 2 files that are not images (.md, .txt)"]
    assert examples.skipped == Counter()


def test_split_folder_picks_the_split_and_names_the_found_ones_when_missing(tmp_path):
    root = tmp_path / "data"
    class_folder(root / "train", {"cat": 2, "dog": 2})
    class_folder(root / "val", {"cat": 1, "dog": 1}, seed=50)
    class_folder(root / "test", {"cat": 1}, seed=80)  # evaluation data may hold one class
    train = read_images(root, cfg(), split="train")
    assert (len(train), train.path, train.where[0]) == (4, root / "train", "cat/1.jpg")
    assert train.notes == ["train: split folder 'train' of image folder data (splits: test, train, val), 2 classes, "
                           "4 images"]
    validation = read_images(root, cfg(), split="validation")
    assert validation.columns["label"] == ["cat", "dog"]
    assert validation.notes[0].startswith("validation: split folder 'val' of image folder data")
    assert read_images(root, cfg(), split="test").columns["label"] == ["cat"]
    only_train = tmp_path / "only"
    class_folder(only_train / "train", {"cat": 1, "dog": 1})
    assert error_of(lambda: read_images(only_train, cfg(), split="test")) == (
        f"{only_train}: has no test folder (split folders found: train). Add a test folder with one sub-folder "
        "per class, or point data.test to another folder")
    assert error_of(lambda: read_images(only_train, cfg(), split="validation")) == (
        f"{only_train}: has no validation folder (split folders found: train). Add a validation (or val) folder "
        "with one sub-folder per class, or leave data.eval unset to hold out a fraction of train")


def test_split_folders_beside_other_folders_or_loose_images_are_errors(tmp_path):
    root = tmp_path / "data"
    class_folder(root / "train", {"cat": 1, "dog": 1})
    class_folder(root / "extra", {"cat": 1})
    assert error_of(lambda: read_images(root, cfg())) == (
        f"{root}: has split folders (train) and other folders (extra). Move the other folders into a split folder "
        "(each holds one sub-folder per class), or delete them")
    (root / "extra" / "cat" / "1.jpg").rename(root / "stray.jpg")
    (root / "extra" / "cat").rmdir()
    (root / "extra").rmdir()
    assert error_of(lambda: read_images(root, cfg())) == (
        f"{root}: has 1 image directly in it (e.g. stray.jpg), next to the split folders (train). Move each into a "
        "class folder inside a split folder, or delete them")


def test_a_class_called_test_is_not_a_split(tmp_path):
    root = class_folder(tmp_path / "pets", {"dog": 1, "test": 1})
    assert read_images(root, cfg()).columns["label"] == ["dog", "test"]


def test_csv_and_jsonl_with_relative_and_absolute_paths(tmp_path):
    photo(tmp_path / "imgs" / "a.jpg", 1)
    photo(tmp_path / "imgs" / "b.png", 2)
    absolute = photo(tmp_path / "elsewhere" / "c.jpg", 3)
    (tmp_path / "train.csv").write_text(f"image,label\nimgs/a.jpg,cat\nimgs/b.png,dog\n{absolute},1\n")
    examples = read_images(tmp_path / "train.csv", cfg())
    assert examples.where == ["line 2", "line 3", "line 4"]
    assert examples.columns["label"] == ["cat", "dog", "1"]
    assert [ref.source for ref in examples.columns["image"]] == [tmp_path / "imgs" / "a.jpg",
                                                                 tmp_path / "imgs" / "b.png", absolute]
    assert examples.notes == ["train: table train.csv, 3 classes, 3 images"]
    rows = [{"picture": "imgs/a.jpg", "y": 0}, {"picture": "imgs/b.png", "y": 1.0}]
    (tmp_path / "train.jsonl").write_text("\n".join(json.dumps(row) for row in rows))
    jsonl = read_images(tmp_path / "train.jsonl", cfg(image="picture", label="y"))
    assert (jsonl.columns["label"], jsonl.where) == (["0", "1"], ["line 1", "line 2"])


def test_parquet_with_hugging_face_bytes_dicts(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    photo(tmp_path / "b.png", 2, size=(5, 4))
    images = [{"bytes": encoded(1, size=(8, 6)), "path": "/machine/that/made/it.png"},  # bytes win over path
              {"bytes": None, "path": "b.png"}]
    pq.write_table(pa.table({"image": images, "label": [0, 1]}), tmp_path / "train.parquet")
    examples = read_images(tmp_path / "train.parquet", cfg())
    stored, on_disk = examples.columns["image"]
    assert (stored.source, stored.where, stored.width, stored.height) == (tmp_path / "train.parquet", "row 1", 8, 6)
    assert stored.name() == f"{tmp_path / 'train.parquet'} row 1" and stored.load().size == (8, 6)
    assert (on_disk.source, on_disk.data, on_disk.width) == (tmp_path / "b.png", None, 5)
    assert examples.columns["label"] == ["0", "1"]
    assert examples.notes == ["train: table train.parquet, 2 classes, 2 images (1 stored in the file)"]


def test_datasets_folder_with_image_and_classlabel_features(tmp_path):
    import datasets

    def dataset(seeds, labels):
        return (datasets.Dataset.from_dict({"img": [{"bytes": encoded(s), "path": None} for s in seeds],
                                            "label": labels})
                .cast_column("img", datasets.Image())
                .cast_column("label", datasets.ClassLabel(names=["cat", "dog"])))

    dataset([1, 2, 3], [0, 1, 1]).save_to_disk(tmp_path / "single")
    examples = read_images(tmp_path / "single", cfg())
    assert examples.columns["label"] == ["cat", "dog", "dog"]  # class names, not integers
    assert examples.where == ["row 1", "row 2", "row 3"]
    assert [ref.data for ref in examples.columns["image"]] == [encoded(1), encoded(2), encoded(3)]
    assert examples.notes == ["train: datasets folder, image column 'img' (its Image feature; there is no column "
                              "'image'), label column 'label' (ClassLabel: class names used), 2 classes, 3 images"]
    datasets.DatasetDict({"train": dataset([1, 2], [0, 1]), "validation": dataset([4], [1])}).save_to_disk(
        tmp_path / "dict")
    validation = read_images(tmp_path / "dict", cfg(), split="validation")
    assert (validation.columns["label"], validation.notes[0].split(",")[0]) == (
        ["dog"], "validation: datasets folder (split 'validation')")
    assert error_of(lambda: read_images(tmp_path / "single", cfg(label="class"))) == (
        f"{tmp_path / 'single'}, field 'class': no such column. The dataset has columns: img, label. Set "
        "data.label=<one of them>")


# ---- modes ---------------------------------------------------------------------------------------

def test_grey_palette_transparent_16bit_and_cmyk_become_rgb(tmp_path):
    root = tmp_path / "modes"
    (root / "a").mkdir(parents=True)
    (root / "b").mkdir()
    Image.new("L", (4, 4), 77).save(root / "a" / "grey.png")
    palette = Image.new("P", (4, 4), 1)
    palette.putpalette([0, 0, 0, 200, 10, 10] + [0] * 762)
    palette.save(root / "a" / "palette.png")
    rgba = Image.new("RGBA", (4, 4), (10, 20, 30, 255))
    rgba.putpixel((0, 0), (10, 20, 30, 0))  # fully transparent: its stored colour must not show
    rgba.putpixel((1, 0), (0, 0, 0, 128))
    rgba.save(root / "b" / "rgba.png")
    Image.fromarray(np.array([[0, 65535], [32896, 257]], dtype=np.uint16)).save(root / "b" / "deep.png")
    Image.new("CMYK", (4, 4), (0, 255, 255, 0)).save(root / "b" / "cmyk.jpg")
    examples = read_images(root, cfg())
    refs = {ref.source.name: ref for ref in examples.columns["image"]}
    assert {name: ref.mode for name, ref in refs.items()} == {
        "grey.png": "L", "palette.png": "P", "cmyk.jpg": "CMYK", "deep.png": "I;16", "rgba.png": "RGBA"}
    loaded = {name: ref.load() for name, ref in refs.items()}
    assert {img.mode for img in loaded.values()} == {"RGB"}
    assert loaded["grey.png"].getpixel((0, 0)) == (77, 77, 77)
    assert loaded["palette.png"].getpixel((2, 2)) == (200, 10, 10)
    assert loaded["rgba.png"].getpixel((0, 0)) == (255, 255, 255)  # transparent -> white
    assert loaded["rgba.png"].getpixel((1, 0)) == (127, 127, 127)  # half black on white
    assert loaded["rgba.png"].getpixel((3, 3)) == (10, 20, 30)
    deep = np.asarray(loaded["deep.png"])[:, :, 0].tolist()
    assert deep == [[0, 255], [128, 1]]  # scaled from 16 bits, not clipped to white
    red = loaded["cmyk.jpg"].getpixel((2, 2))
    assert red[0] > 200 and red[1] < 40 and red[2] < 40
    assert examples.notes[-1] == ("5 images are converted to RGB: 1 grey (L), 1 palette (P), 1 CMYK, 1 16-bit grey "
                                  "(I;16, scaled to 8 bits), 1 RGBA (transparency composited on white)")


def test_palette_with_a_transparent_index_is_composited_on_white(tmp_path):
    palette = Image.new("P", (2, 1), 0)
    palette.putpalette([0, 255, 0, 0, 0, 255] + [0] * 762)
    palette.putpixel((1, 0), 1)
    palette.info["transparency"] = 0
    palette.save(tmp_path / "p.png", transparency=0)
    image = probe(ImageRef(tmp_path / "p.png")).load()
    assert (image.getpixel((0, 0)), image.getpixel((1, 0))) == ((255, 255, 255), (0, 0, 255))


def test_thumbnail_fits_and_is_rgb(tmp_path):
    ref = ImageRef(photo(tmp_path / "big.jpg", size=(400, 300)))
    thumb = ref.thumbnail(64)
    assert (thumb.size, thumb.mode) == ((64, 48), "RGB")
    grey = tmp_path / "grey.png"
    Image.new("L", (10, 30), 5).save(grey)
    assert ImageRef(grey).thumbnail(6).size == (2, 6)


def test_image_ref_repr_leaves_out_the_bytes(tmp_path):
    ref = ImageRef(tmp_path / "t.parquet", "row 2", b"x" * 1000, 4, 3, "RGB")
    assert "xxx" not in repr(ref) and "row 2" in repr(ref)
    assert ImageRef(tmp_path / "a.jpg").name() == str(tmp_path / "a.jpg")


# ---- errors --------------------------------------------------------------------------------------

def test_a_truncated_jpeg_is_caught_although_it_is_decoded_in_draft_mode(tmp_path, monkeypatch):
    from PIL import JpegImagePlugin

    drafts = []
    original = JpegImagePlugin.JpegImageFile.draft
    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft",
                        lambda self, mode, size: drafts.append(size) or original(self, mode, size))
    whole = photo(tmp_path / "whole.jpg", size=(640, 480)).read_bytes()
    for name, data in [("half.jpg", whole[: len(whole) // 2]), ("end.jpg", whole[:-200])]:
        (tmp_path / name).write_bytes(data)
        with pytest.raises(UnreadableImage, match="^image file is truncated$"):
            probe(ImageRef(tmp_path / name))
    assert drafts == [(80, 60), (80, 60)]  # decoded at 1/8 scale, and the truncation still found
    assert probe(ImageRef(tmp_path / "whole.jpg")).width == 640


def test_unreadable_images_in_a_folder_name_the_file(tmp_path):
    root = class_folder(tmp_path / "pets", {"cat": 2, "dog": 2})
    whole = (root / "dog" / "2.jpg").read_bytes()
    (root / "dog" / "2.jpg").write_bytes(whole[: len(whole) // 2])
    assert error_of(lambda: read_images(root, cfg())) == (
        f"{root / 'dog' / '2.jpg'}: cannot be read as an image (image file is truncated). {UNREADABLE_FIX}")
    (root / "dog" / "2.jpg").write_bytes(whole)
    (root / "cat" / "fake.jpg").write_text("this is text, not a JPEG")
    assert error_of(lambda: read_images(root, cfg())) == (
        f"{root / 'cat' / 'fake.jpg'}: cannot be read as an image (unknown image format). {UNREADABLE_FIX}")


def test_folder_layout_errors(tmp_path):
    empty_class = class_folder(tmp_path / "a", {"cat": 1, "dog": 1})
    (empty_class / "bird").mkdir()
    assert error_of(lambda: read_images(empty_class, cfg())) == (
        f"{empty_class / 'bird'}: the class folder has no images. Add images to it or delete the folder")
    (empty_class / "bird" / "list.txt").write_text("x")
    assert error_of(lambda: read_images(empty_class, cfg())) == (
        f"{empty_class / 'bird'}: the class folder has no images, only 1 other file (.txt). Add images to it or "
        "delete the folder")
    one = class_folder(tmp_path / "b", {"cat": 3})
    assert error_of(lambda: read_images(one, cfg())) == (
        f"{one}: has one class folder ('cat'); a classifier needs at least two classes. Give one sub-folder of "
        "images per class")
    loose = class_folder(tmp_path / "c", {"cat": 1, "dog": 1})
    photo(loose / "a.jpg", 7)
    photo(loose / "b.png", 8)
    assert error_of(lambda: read_images(loose, cfg())) == (
        f"{loose}: has 2 images directly in it (e.g. a.jpg), next to the class folders. Move each into its class "
        "folder (the sub-folder names are the labels), or delete them")
    flat = tmp_path / "flat"
    photo(flat / "a.jpg")
    assert error_of(lambda: read_images(flat, cfg())) == (
        f"{flat}: has 1 image but no class folders. Put the images in one sub-folder per class (e.g. cat/, dog/): "
        "the sub-folder names are the labels")
    nothing = tmp_path / "nothing"
    nothing.mkdir()
    (nothing / "notes.txt").write_text("x")
    assert error_of(lambda: read_images(nothing, cfg())) == (
        f"{nothing}: has no images. Give a folder with one sub-folder of images per class ({SUFFIXES})")
    assert error_of(lambda: read_images(flat / "a.jpg", cfg())).startswith(f"{flat / 'a.jpg'}: is a single image.")


def test_table_errors_name_the_line_and_field(tmp_path):
    photo(tmp_path / "imgs" / "a.jpg", 1)
    whole = encoded(2, size=(64, 64))
    (tmp_path / "bad.png").write_bytes(whole[: len(whole) // 2])
    table = tmp_path / "train.csv"
    table.write_text("image,label\nimgs/a.jpg,cat\nimgs/nope.jpg,dog\n")
    assert error_of(lambda: read_images(table, cfg())) == (
        f"{table}, line 3, field 'image': image file imgs/nope.jpg not found. Image paths are relative to the data "
        f"file's folder ({tmp_path}); correct the path, or set data.on_invalid=skip to skip rows whose image is "
        "missing")
    table.write_text("image,label\nimgs/a.jpg,cat\nbad.png,dog\n")
    assert error_of(lambda: read_images(table, cfg())) == (
        f"{table}, line 3, field 'image': image file bad.png cannot be read as an image (image file is truncated). "
        f"{UNREADABLE_FIX}")
    table.write_text("image,label\nimgs/a.jpg, \n")
    assert error_of(lambda: read_images(table, cfg())) == (
        f"{table}, line 2, field 'label': the label is empty. Fill it in or remove the row (or set "
        "data.on_invalid=skip to skip such rows)")
    table.write_text("path,label\nimgs/a.jpg,cat\n")
    assert error_of(lambda: read_images(table, cfg())) == (
        f"{table}, field 'image': no such column. The file has columns: path, label. Set data.image=<one of them>")
    assert read_images(table, cfg(image="path"), targets=False).columns.keys() == {"image"}


def test_unreadable_stored_bytes_name_the_row(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"image": [{"bytes": encoded(1), "path": None}, {"bytes": b"garbage", "path": None}],
                             "label": ["a", "b"]}), tmp_path / "t.parquet")
    assert error_of(lambda: read_images(tmp_path / "t.parquet", cfg())) == (
        f"{tmp_path / 't.parquet'}, row 2, field 'image': the image stored in the row cannot be read as an image "
        "(unknown image format). Replace or remove the row, or set data.on_invalid=skip to skip unreadable images")


def test_on_invalid_skip_counts_every_skipped_image(tmp_path):
    root = class_folder(tmp_path / "pets", {"cat": 2, "dog": 2})
    whole = (root / "dog" / "2.jpg").read_bytes()
    (root / "dog" / "2.jpg").write_bytes(whole[: len(whole) // 2])
    (root / "cat" / "fake.jpg").write_text("text")
    examples = read_images(root, cfg(on_invalid="skip"))
    assert (examples.where, examples.skipped) == (["cat/1.jpg", "cat/2.jpg", "dog/1.jpg"],
                                                  Counter({"unreadable image": 2}))
    assert skipped_summary(examples) == "pets: skipped 2 rows (2 with unreadable image)"
    photo(tmp_path / "ok.jpg", 3)
    (tmp_path / "t.csv").write_text("image,label\nok.jpg,a\nmissing.jpg,b\nok.jpg,\npets/cat/fake.jpg,c\n,e\n"
                                    "ok.jpg,d\n")
    table = read_images(tmp_path / "t.csv", cfg(on_invalid="skip"))
    assert (table.where, table.columns["label"]) == (["line 2", "line 7"], ["a", "d"])
    assert table.skipped == Counter({"image file not found": 1, "the label is empty": 1, "unreadable image": 1,
                                     "the image is empty": 1})
    (tmp_path / "none.csv").write_text("image,label\nmissing.jpg,b\n")
    assert error_of(lambda: read_images(tmp_path / "none.csv", cfg(on_invalid="skip"))) == (
        f"{tmp_path / 'none.csv'}: every image was skipped (1 with image file not found). Check the images and the "
        "settings")


# ---- prediction inputs ---------------------------------------------------------------------------

def test_prediction_reads_flat_folders_and_class_folders_without_labels(tmp_path):
    flat = tmp_path / "flat"
    photo(flat / "b.jpg", 1)
    photo(flat / "a.png", 2)
    examples = read_images(flat, cfg(), targets=False)
    assert (examples.where, list(examples.columns)) == (["a.png", "b.jpg"], ["image"])
    assert examples.notes == ["flat: image folder, 2 images"]
    classes = class_folder(tmp_path / "pets", {"cat": 1, "dog": 1})
    unlabelled = read_images(classes, cfg(), targets=False)
    assert (unlabelled.where, list(unlabelled.columns)) == (["cat/1.jpg", "dog/1.jpg"], ["image"])
    assert unlabelled.notes == ["pets: image folder, 2 class folders (labels not read), 2 images"]


def test_images_from_paths(tmp_path):
    one = photo(tmp_path / "one.jpg", 1)
    Image.new("L", (3, 3)).save(tmp_path / "grey.png")
    folder = class_folder(tmp_path / "more", {"cat": 1, "dog": 1})
    examples = images_from_paths([one, str(tmp_path / "grey.png"), folder])
    assert examples.where == ["image 1", "image 2", "cat/1.jpg", "dog/1.jpg"]
    assert [ref.source for ref in examples.columns["image"]][:2] == [one, tmp_path / "grey.png"]
    assert examples.notes == ["more: image folder, 2 class folders (labels not read), 2 images",
                              "1 image is converted to RGB: 1 grey (L)"]
    assert error_of(lambda: images_from_paths([tmp_path / "onе.jpg"])).startswith(f"{tmp_path / 'onе.jpg'}: file "
                                                                                    "not found. ")
    (tmp_path / "text.jpg").write_text("no")
    assert error_of(lambda: images_from_paths([tmp_path / "text.jpg"])) == (
        f"{tmp_path / 'text.jpg'}: cannot be read as an image (unknown image format). Give an image file "
        f"({SUFFIXES})")


# ---- data check ----------------------------------------------------------------------------------

def test_image_report_counts_sizes_duplicates_and_leakage(tmp_path):
    train_dir = class_folder(tmp_path / "train", {"cat": 7, "dog": 2})
    photo(train_dir / "cat" / "big.jpg", 999, size=(300, 240))
    (train_dir / "dog" / "copy.jpg").write_bytes((train_dir / "cat" / "1.jpg").read_bytes())  # conflicting label
    (train_dir / "cat" / "again.jpg").write_bytes((train_dir / "cat" / "2.jpg").read_bytes())  # same label
    eval_dir = class_folder(tmp_path / "eval", {"cat": 1, "dog": 1}, seed=500)
    (eval_dir / "dog" / "leak.jpg").write_bytes((train_dir / "dog" / "1.jpg").read_bytes())
    test_dir = class_folder(tmp_path / "test", {"cat": 1}, seed=700)
    Image.new("L", (16, 12), 3).save(test_dir / "cat" / "grey.png")
    train, evaluation = read_images(train_dir, cfg()), read_images(eval_dir, cfg(), split="validation")
    data = TaskData(train=train, eval=evaluation, labels=["cat", "dog"], eval_source=str(eval_dir),
                    info=train.notes, test=read_images(test_dir, cfg(), split="test"))
    report = image_report(data, cfg(), image_size=224)
    assert report["rows"] == {"train": 12, "eval": 3, "test": 2, "eval_source": str(eval_dir)}
    assert report["labels"] == {"train": {"cat": 9, "dog": 3}, "eval": {"dog": 2, "cat": 1},
                                "test": {"cat": 2, "dog": 0}}
    assert report["label_percent"]["train"] == {"cat": 75.0, "dog": 25.0}
    assert report["sizes"] == {"width": {"min": 16, "median": 16, "max": 300},
                               "height": {"min": 12, "median": 12, "max": 240}, "image_size": 224, "smaller": 16}
    assert report["modes"] == Counter({"RGB": 16, "L": 1})
    assert report["duplicates"] == {
        "repeated_images": 2, "groups": 2, "conflicting_labels": 1,
        "examples": ["cat/1.jpg (cat) = dog/copy.jpg (dog)", "cat/2.jpg (cat) = cat/again.jpg (cat)"],
        "conflict_examples": ["cat/1.jpg (cat) = dog/copy.jpg (dog)"]}
    assert report["overlap"] == {"eval": {"images": 1, "examples": ["dog/leak.jpg = train dog/1.jpg"]},
                                 "test": {"images": 0, "examples": []}}
    assert report["skipped"] == {"train": {}, "eval": {}, "test": {}}
    assert report["warnings"] == [
        "1 image appears in train under different labels (e.g. cat/1.jpg (cat) = dog/copy.jpg (dog)); check the "
        "labelling",
        "1 eval image is an exact copy of a training image (e.g. dog/leak.jpg = train dog/1.jpg): the eval scores "
        "will look better than the model is; remove the copies from one side"]
    assert report["lines"] == [
        "train: image folder, 2 classes, 12 images",
        f"rows: train 12  eval 3  test 2  ({eval_dir})",
        "images per class (train): cat 9 (75%), dog 3 (25%)",
        "images per class (eval): dog 2 (67%), cat 1 (33%)",
        "images per class (test): cat 2 (100%), dog 0 (0%)",
        "image sizes (width x height): min 16x12  median 16x12  max 300x240;  16 with a side under 224 px "
        "(upscaled to the model's input)",
        "stored as: RGB 16; converted to RGB: 1 grey (L)",
        "unreadable/skipped: train 0  eval 0  test 0",
        "duplicates in train: 2 repeated images, 1 with conflicting labels",
        "train/eval overlap: 1 identical image (e.g. dog/leak.jpg = train dog/1.jpg)",
        "train/test overlap: 0 identical images"]


def test_image_report_warns_of_imbalance_and_skipped_images(tmp_path):
    train_dir = class_folder(tmp_path / "train", {"cat": 7, "dog": 2})
    (train_dir / "dog" / "broken.jpg").write_bytes(b"\xff\xd8\xff")
    train = read_images(train_dir, cfg(on_invalid="skip"))
    data = TaskData(train=train, eval=train.subset([0, 8]), labels=["cat", "dog"], eval_source="file")
    report = image_report(data, cfg())
    assert report["warnings"][:2] == [
        "imbalanced classes: 'cat' has 7 images, 'dog' only 2 (4:1); judge the model by f1_macro rather than accuracy",
        "train: 1 image cannot be used (1 with unreadable image); training stops at the first unless "
        "data.on_invalid=skip, which skips them"]
    assert "train: skipped for unreadable image: dog/broken.jpg" in report["warnings"]
    assert report["sizes"]["smaller"] == 0 and "image_size" in report["sizes"]


def test_a_photo_with_an_exif_orientation_is_read_upright(tmp_path):
    """Phone cameras store pixels sideways with an orientation tag: the model sees what a viewer shows."""
    from PIL import Image

    from tailor.data.images import images_from_paths

    photo = tmp_path / "phone.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to view"
    Image.new("RGB", (40, 20), (200, 30, 30)).save(photo, exif=exif)
    image = images_from_paths([photo]).columns["image"][0]
    assert image.load().size == (20, 40) and image.thumbnail(10).size == (5, 10)


def test_a_class_folder_named_train_is_a_class(tmp_path):
    """Vehicles: bus/, car/, train/ are classes (they hold images), not a split layout."""
    from PIL import Image

    from tailor.data.images import read_images

    for label in ("bus", "car", "train"):
        (tmp_path / "vehicles" / label).mkdir(parents=True)
        Image.new("RGB", (8, 8), (10, 20, 30)).save(tmp_path / "vehicles" / label / "1.png")
    examples = read_images(tmp_path / "vehicles", cfg())
    assert examples.columns["label"] == ["bus", "car", "train"]
    assert examples.notes[0] == "train: image folder, 3 classes, 3 images"


def test_a_validation_split_folder_left_unused_is_said(tmp_path):
    from PIL import Image

    from tailor.data.images import read_images

    for split in ("train", "val"):
        for label in ("cat", "dog"):
            (tmp_path / "pets" / split / label).mkdir(parents=True)
            Image.new("RGB", (8, 8), (10, 20, 30)).save(tmp_path / "pets" / split / label / "1.png")
    assert read_images(tmp_path / "pets", cfg()).warnings == [
        f"pets/val is not used: data.eval holds out 0.1 of train instead; set data.eval to {tmp_path / 'pets'} to "
        "evaluate on it"]
    assert read_images(tmp_path / "pets", cfg(eval=str(tmp_path / "pets"))).warnings == []
