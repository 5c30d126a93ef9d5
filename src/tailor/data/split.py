"""Hold out an evaluation split, or cut K folds, stratified by label with a fixed seed."""

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
    return *_parts(examples, train_idx, eval_idx), note


def _parts(examples: Examples, train_idx, held_idx) -> tuple[Examples, Examples]:
    held_out = examples.subset(sorted(held_idx))
    held_out.skipped.clear()  # rows skipped or repaired while reading are reported once, with the training file
    held_out.warnings.clear()
    return examples.subset(sorted(train_idx)), held_out


def kfold_splits(examples: Examples, folds: int, seed: int, stratify_by: str | None = "label"):
    """([(train, held_out)] * folds, note): every row held out exactly once, the folds stratified by
    label (scikit-learn's StratifiedKFold, shuffled with `seed`) where the task has one."""
    from sklearn.model_selection import KFold, StratifiedKFold

    from tailor.errors import ConfigError

    if folds < 2 or folds > len(examples):
        raise ConfigError(f"--folds {folds}: K-fold needs 2 to {len(examples)} folds (the training file has "
                          f"{len(examples)} rows)")
    labels = examples.get(stratify_by) if stratify_by else None
    note = None
    if labels is not None:
        rare = sorted(label for label, count in Counter(labels).items() if count < folds)
        if rare:
            note = (f"classes with fewer than {folds} examples ({', '.join(map(str, rare[:5]))}) cannot be in "
                    "every fold's held-out part")
        cutter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    else:
        cutter = KFold(n_splits=folds, shuffle=True, random_state=seed)
    import warnings

    indices = list(range(len(examples)))
    with warnings.catch_warnings():  # scikit-learn's warning about rare classes is the note above
        warnings.simplefilter("ignore", UserWarning)
        cuts = list(cutter.split(indices, labels))
    return [_parts(examples, train_idx, held_idx) for train_idx, held_idx in cuts], note
