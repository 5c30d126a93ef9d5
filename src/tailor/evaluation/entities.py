"""Entity-level metrics for token classification (from seqeval), and the baseline a tagger must beat.

Tags are BIO (IOB2). An entity counts as found only when its type and its exact token span match
(seqeval's strict mode) in the tags given: callers decode predictions into valid BIO first (an I-X
after O begins an entity, as CoNLL's scorer reads it), as the task and the baseline do.
"""

from __future__ import annotations

import warnings
from collections import Counter, defaultdict

from seqeval.metrics import accuracy_score, classification_report
from seqeval.scheme import IOB2, Entities

from tailor.data.tags import to_bio


def entity_metrics(true_tags: list[list[str]], predicted_tags: list[list[str]]) -> dict:
    """Micro entity P/R/F1, token accuracy, per-type scores and an entity confusion matrix."""
    if len(true_tags) != len(predicted_tags) or any(len(t) != len(p) for t, p in zip(true_tags, predicted_tags)):
        raise ValueError("true and predicted tags differ in the number of sentences or of tokens in one")
    with warnings.catch_warnings():
        # With no entities at all seqeval's macro average is a mean of nothing; we report micro only.
        warnings.simplefilter("ignore", RuntimeWarning)
        report = classification_report(true_tags, predicted_tags, mode="strict", scheme=IOB2, output_dict=True,
                                       zero_division=0)
    micro = report.pop("micro avg")
    per_type = {kind: {"precision": float(scores["precision"]), "recall": float(scores["recall"]),
                       "f1": float(scores["f1-score"]), "support": int(scores["support"])}
                for kind, scores in sorted(report.items()) if not kind.endswith(" avg")}
    gold, predicted = _entities(true_tags), _entities(predicted_tags)
    return {"f1": float(micro["f1-score"]), "precision": float(micro["precision"]), "recall": float(micro["recall"]),
            "accuracy": float(accuracy_score(true_tags, predicted_tags)) if true_tags else 0.0,
            "per_type": per_type, "confusion": entity_confusion(gold, predicted),
            "entities": len(gold), "sentences": len(true_tags)}


def entity_f1_interval(true_tags: list[list[str]], predicted_tags: list[list[str]], seed: int = 0,
                       resamples: int = 1000) -> list[float]:
    """The bootstrap 95 % interval of micro entity F1 over sentences. Each sentence's counts (entities
    found exactly, predicted, gold; decoded as seqeval's strict mode decodes them) are taken once, and
    a resample's F1 is 2 x found / (predicted + gold), seqeval's micro F1 of those sentences."""
    import numpy as np
    from scipy.stats import bootstrap

    gold, predicted = _entities(true_tags), _entities(predicted_tags)
    counts = np.zeros((3, len(true_tags)))
    for (sentence, *_), kind in gold.items():
        counts[2, sentence] += 1
    for span, kind in predicted.items():
        counts[1, span[0]] += 1
        counts[0, span[0]] += gold.get(span) == kind
    if len(true_tags) < 2:
        return [float("nan"), float("nan")]

    def f1(found, guessed, true, axis=-1):
        return 2 * found.sum(axis) / np.maximum(guessed.sum(axis) + true.sum(axis), 1)

    result = bootstrap(tuple(counts), f1, paired=True, vectorized=True, n_resamples=resamples, method="percentile",
                       rng=np.random.default_rng(seed))
    return [round(float(result.confidence_interval.low), 4), round(float(result.confidence_interval.high), 4)]


def _entities(sequences: list[list[str]]) -> dict[tuple[int, int, int], str]:
    """(sentence, first token, end token) -> type, decoded exactly as the scores decode them."""
    found = Entities(sequences, IOB2).entities
    return {(e.sent_id, e.start, e.end): e.tag for sentence in found for e in sentence}


def entity_confusion(gold: dict[tuple, str], predicted: dict[tuple, str]) -> dict:
    """Rows: the gold type ("O": a predicted entity with no gold entity on its span); columns: the
    predicted type ("O": a gold entity that no prediction has exactly). A boundary error is both."""
    labels = sorted(set(gold.values()) | set(predicted.values())) + ["O"]
    index = {label: i for i, label in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    for span in gold.keys() | predicted.keys():
        matrix[index[gold.get(span, "O")]][index[predicted.get(span, "O")]] += 1
    return {"labels": labels, "matrix": matrix}


def most_frequent_tag_baseline(train_tokens: list[list[str]], train_tags: list[list[str]],
                               eval_tokens: list[list[str]], eval_tags: list[list[str]]) -> dict:
    """Tag each token with its most frequent training tag (ties: the tag seen first), unseen tokens O,
    and score that with entity_metrics."""
    counts: dict[str, Counter] = defaultdict(Counter)
    for tokens, tags in zip(train_tokens, train_tags):
        for token, tag in zip(tokens, tags):
            counts[token][tag] += 1
    # most_common keeps first-seen order among equal counts, so the choice is deterministic.
    best = {token: tags.most_common(1)[0][0] for token, tags in counts.items()}
    # Read like a model's predictions: an I-X after O or another type begins an entity ("York" alone
    # is I-LOC in training), so the baseline is not scored lower for a quirk of its decoding.
    predicted = [to_bio([best.get(token, "O") for token in tokens], lenient=True)[0] for tokens in eval_tokens]
    return {"method": "most frequent training tag per word", **entity_metrics(eval_tags, predicted)}
