"""Hold out an evaluation split, stratified by label with a fixed seed."""

from __future__ import annotations

from collections import Counter

from tailor.data.examples import Examples


def holdout_split(examples: Examples, fraction: float, seed: int, stratify_by: str | None = "label"):
    """Return (train, held_out). Stratified when every class has at least two examples; the
    returned note says when it could not be (so the user knows)."""
    from sklearn.model_selection import train_test_split

    indices = list(range(len(examples)))
    labels = examples.get(stratify_by) if stratify_by else None
    note = None
    if labels is not None:
        rare = [label for label, count in Counter(labels).items() if count < 2]
        if rare:
            note = (f"classes with a single example ({', '.join(map(str, rare[:5]))}) cannot be split "
                    "by stratification; the split is random")
            labels = None
    train_idx, eval_idx = train_test_split(indices, test_size=fraction, random_state=seed, stratify=labels)
    held_out = examples.subset(sorted(eval_idx))
    held_out.skipped.clear()  # rows skipped or repaired while reading are reported once, with the training file
    held_out.warnings.clear()
    return examples.subset(sorted(train_idx)), held_out, note
