"""Write the image example data: grey 28x28 photos of 5 kinds of clothing from Fashion-MNIST (Zalando,
MIT licence), as the class folders a user would have.

    sudo apt-get install dataset-fashion-mnist      # the Debian package with the original files
    python examples/images/prepare.py               # -> examples/images/data/{train,eval,test}/<class>/*.png

120 training images per class (600), 40 per class to pick the checkpoint (200) and 100 per class from
the official test split (500) that neither training nor checkpoint selection sees. The classes are
the first five of Fashion-MNIST, so two of them (pullover, coat) are easily confused.
"""

import gzip
import sys
from pathlib import Path

import numpy as np
from PIL import Image

FILES = Path("/usr/share/datasets/fashion-mnist")
CLASSES = ["t-shirt", "trouser", "pullover", "dress", "coat"]  # Fashion-MNIST labels 0-4
SIZES = {"train": 120, "eval": 40}  # per class, from the training split; test: 100 per class from t10k
SEED = 7


def read(kind: str) -> tuple[np.ndarray, np.ndarray]:
    images = np.frombuffer(gzip.open(FILES / f"{kind}-images-idx3-ubyte.gz").read(), np.uint8, offset=16)
    labels = np.frombuffer(gzip.open(FILES / f"{kind}-labels-idx1-ubyte.gz").read(), np.uint8, offset=8)
    return images.reshape(-1, 28, 28), labels


def write(folder: Path, images: np.ndarray, labels: np.ndarray, candidates: np.ndarray, per_class: int,
          rng) -> int:
    """`per_class` images of each class drawn from `candidates`, named by their index in the split."""
    for label, name in enumerate(CLASSES):
        (folder / name).mkdir(parents=True, exist_ok=True)
        for i in rng.permutation(candidates[labels[candidates] == label])[:per_class]:
            Image.fromarray(images[i], mode="L").save(folder / name / f"{i}.png")
    return per_class * len(CLASSES)


if __name__ == "__main__":
    if not FILES.exists():
        sys.exit(f"{FILES} not found: install it with `sudo apt-get install dataset-fashion-mnist`")
    out = Path(__file__).parent / "data"
    rng = np.random.default_rng(SEED)
    images, labels = read("train")
    order = rng.permutation(len(labels))  # train and eval draw from disjoint halves of the training split
    halves = {"train": order[: len(order) // 2], "eval": order[len(order) // 2:]}
    report = [f"{name} {write(out / name, images, labels, halves[name], SIZES[name], rng)}" for name in SIZES]
    test_images, test_labels = read("t10k")
    report.append(f"test {write(out / 'test', test_images, test_labels, np.arange(len(test_labels)), 100, rng)}")
    print(f"wrote {', '.join(report)} images under {out}")
