"""data.sampling: the training split rebalanced by class, by random over- or under-sampling
(imbalanced-learn's samplers, seeded). Evaluation and test data are never resampled: their scores
must describe the data as it is."""

from __future__ import annotations

from collections import Counter

import numpy as np

from tailor.data.examples import Examples

NO_ENTITY = "(no entity)"


def resample(train: Examples, how: str, keys: list[str], seed: int) -> tuple[Examples, str]:
    """The training examples resampled so that every key (class) has as many as the largest
    (oversample) or the smallest (undersample) has, and a line saying what changed."""
    from imblearn.over_sampling import RandomOverSampler
    from imblearn.under_sampling import RandomUnderSampler

    sampler = (RandomOverSampler if how == "oversample" else RandomUnderSampler)(random_state=seed)
    sampler.fit_resample(np.arange(len(keys)).reshape(-1, 1), np.array(keys, dtype=object))
    chosen = sorted(sampler.sample_indices_.tolist())
    before, after = Counter(keys), Counter(keys[i] for i in chosen)
    changes = ", ".join(f"{key} {before[key]:,} -> {after[key]:,}" for key, _ in before.most_common())
    verb = "repeated" if how == "oversample" else "left out"
    note = (f"data.sampling={how}: {len(keys):,} -> {len(chosen):,} training examples ({abs(len(chosen) - len(keys)):,} "
            f"{verb}, at random with seed {seed}; {changes}); evaluation data as it is")
    return train.subset(chosen), note


def balance_keys(targets: str, train: Examples) -> list[str]:
    """What each training example counts as when classes are balanced: its label; for a tagged
    sentence, its rarest entity type (sentences without an entity count as one more class)."""
    if targets == "classes":
        return [str(label) for label in train.columns["label"]]
    types = [{tag.split("-", 1)[-1] for tag in tags if tag != "O"} for tags in train.columns["tags"]]
    frequency = Counter(kind for sentence in types for kind in sentence)
    return [min(sentence, key=lambda kind: (frequency[kind], kind)) if sentence else NO_ENTITY for sentence in types]
