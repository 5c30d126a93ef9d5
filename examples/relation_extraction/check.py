"""Validate the hand-written relation-extraction data in ./data.

Usage: python examples/relation_extraction/check.py [DATA_DIR]

Checks every row of train/eval/test/ambiguous.jsonl and exits non-zero on
the first failing file set, after printing every problem found.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

SPLITS = ("train", "eval", "test")
AMBIGUOUS = "ambiguous"
KEYS = ("text", "head", "head_type", "tail", "tail_type", "label")
ENTITY_TYPES = {"PER", "ORG", "LOC", "DATE"}

# Allowed (head_type, tail_type) per relation; relations are directed head -> tail.
RELATION_TYPES: dict[str, set[tuple[str, str]]] = {
    "works_for": {("PER", "ORG")},
    "founded_by": {("ORG", "PER")},
    "located_in": {("ORG", "LOC"), ("LOC", "LOC")},
    "born_in": {("PER", "LOC")},
    "spouse_of": {("PER", "PER")},
}
# Negatives are hard negatives: same type pairs as some relation (DATE tails allowed too).
RELATION_TYPES["no_relation"] = set().union(*RELATION_TYPES.values()) | {
    (h, "DATE") for h in ("PER", "ORG", "LOC")
}
LABELS = tuple(RELATION_TYPES)
MIN_WORDS, MAX_WORDS = 8, 45


def occurrences(text: str, sub: str) -> list[int]:
    """Start offsets of every (possibly overlapping) occurrence of sub in text."""
    found, start = [], text.find(sub)
    while start != -1:
        found.append(start)
        start = text.find(sub, start + 1)
    return found


def disjoint_pair_exists(text: str, head: str, tail: str) -> bool:
    """True if some occurrence of head and some occurrence of tail do not overlap."""
    for h in occurrences(text, head):
        for t in occurrences(text, tail):
            if h + len(head) <= t or t + len(tail) <= h:
                return True
    return False


def load(path: Path, errors: list[str]) -> list[dict]:
    rows = []
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            where = f"{path.name}:{n}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                errors.append(f"{where}: invalid JSON ({e})")
                continue
            if not isinstance(row, dict) or set(row) != set(KEYS):
                errors.append(f"{where}: keys must be exactly {KEYS}, got {list(row)}")
                continue
            if not all(isinstance(row[k], str) and row[k].strip() for k in KEYS):
                errors.append(f"{where}: every field must be a non-empty string")
                continue
            row["_where"] = where
            rows.append(row)
    return rows


def check_row(row: dict, errors: list[str]) -> int:
    """Validate one row; return the larger occurrence count of head/tail in text."""
    w, text, head, tail = row["_where"], row["text"], row["head"], row["tail"]
    label, ht, tt = row["label"], row["head_type"], row["tail_type"]
    if head not in text:
        errors.append(f"{w}: head {head!r} is not a substring of text")
    if tail not in text:
        errors.append(f"{w}: tail {tail!r} is not a substring of text")
    if head == tail:
        errors.append(f"{w}: head and tail are the same string {head!r}")
    elif head in text and tail in text and not disjoint_pair_exists(text, head, tail):
        errors.append(f"{w}: head {head!r} and tail {tail!r} spans always overlap")
    if ht not in ENTITY_TYPES or tt not in ENTITY_TYPES:
        errors.append(f"{w}: unknown entity type {ht!r}/{tt!r}")
    if label not in RELATION_TYPES:
        errors.append(f"{w}: unknown label {label!r}")
    elif (ht, tt) not in RELATION_TYPES[label]:
        errors.append(f"{w}: types {ht}->{tt} not allowed for {label}")
    n_words = len(text.split())
    if not MIN_WORDS <= n_words <= MAX_WORDS:
        errors.append(f"{w}: {n_words} words, expected {MIN_WORDS}-{MAX_WORDS}")
    return max(len(occurrences(text, head)), len(occurrences(text, tail)))


def main(data_dir: Path) -> int:
    errors: list[str] = []
    data: dict[str, list[dict]] = {}
    for name in (*SPLITS, AMBIGUOUS):
        path = data_dir / f"{name}.jsonl"
        if not path.exists():
            errors.append(f"missing file {path}")
            continue
        data[name] = load(path, errors)

    repeated: dict[str, int] = {}
    for name, rows in data.items():
        repeated[name] = sum(check_row(r, errors) > 1 for r in rows)
        keys = Counter((r["text"], r["head"], r["tail"]) for r in rows)
        for (text, head, tail), c in keys.items():
            if c > 1:
                errors.append(f"{name}: pair ({head!r}, {tail!r}) marked {c} times in {text[:60]!r}")
        if name == AMBIGUOUS:
            for r in rows:
                if check_row(r, []) < 2:
                    errors.append(f"{r['_where']}: neither head nor tail occurs twice")
        elif repeated[name]:
            errors.append(f"{name}: {repeated[name]} rows with a head/tail occurring more than once")

    # No sentence may be shared between files (ambiguous.jsonl included).
    texts = {name: {r["text"] for r in rows} for name, rows in data.items()}
    names = list(texts)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            shared = texts[a] & texts[b]
            for t in sorted(shared):
                errors.append(f"text shared between {a} and {b}: {t[:70]!r}")

    # Report.
    width = max(len(label) for label in LABELS)
    header = f"{'label':<{width}} " + " ".join(f"{n:>9}" for n in data)
    print(header)
    for label in LABELS:
        cells = [sum(r["label"] == label for r in rows) for rows in data.values()]
        print(f"{label:<{width}} " + " ".join(f"{c:>9}" for c in cells))
    print(f"{'total':<{width}} " + " ".join(f"{len(rows):>9}" for rows in data.values()))
    print(f"{'sentences':<{width}} " + " ".join(f"{len(texts[n]):>9}" for n in data))
    print(f"{'%no_rel':<{width}} " + " ".join(
        f"{100 * sum(r['label'] == 'no_relation' for r in rows) / max(len(rows), 1):>8.1f}%"
        for rows in data.values()))
    print(f"{'head/tail>1x':<{width}} " + " ".join(f"{repeated.get(n, 0):>9}" for n in data))
    lengths = [len(r["text"].split()) for rows in data.values() for r in rows]
    if lengths:
        print(f"words per sentence: min {min(lengths)}, max {max(lengths)}")

    if errors:
        print(f"\n{len(errors)} problem(s):", file=sys.stderr)
        for e in errors:
            print("  " + e, file=sys.stderr)
        return 1
    print("\nOK")
    return 0


if __name__ == "__main__":
    default = Path(__file__).resolve().parent / "data"
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else default))
