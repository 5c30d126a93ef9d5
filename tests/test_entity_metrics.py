"""Entity-level metrics (seqeval, strict IOB2), the entity confusion matrix, the most-frequent-tag baseline."""

from __future__ import annotations

import warnings

import pytest

from tailor.evaluation.entities import entity_metrics, most_frequent_tag_baseline

# Gold: PER (0-2), LOC (3) | ORG (0). Predicted: PER found, LOC found, ORG missed, a spurious MISC.
GOLD = [["B-PER", "I-PER", "O", "B-LOC", "O"], ["B-ORG", "O", "O"]]
PREDICTED = [["B-PER", "I-PER", "O", "B-LOC", "O"], ["O", "O", "B-MISC"]]


def test_scores_match_hand_counts():
    metrics = entity_metrics(GOLD, PREDICTED)
    assert metrics["precision"] == pytest.approx(2 / 3)
    assert metrics["recall"] == pytest.approx(2 / 3)
    assert metrics["f1"] == pytest.approx(2 / 3)
    assert metrics["accuracy"] == pytest.approx(6 / 8)
    assert (metrics["entities"], metrics["sentences"]) == (3, 2)
    assert metrics["per_type"]["PER"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1}
    assert metrics["per_type"]["ORG"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert metrics["per_type"]["MISC"]["support"] == 0
    assert all(type(value) is float for value in (metrics["f1"], metrics["precision"], metrics["accuracy"]))


def test_confusion_matrix_rows_gold_columns_predicted():
    gold = [["B-PER", "I-PER", "O", "B-LOC", "O", "B-ORG", "I-ORG"]]
    predicted = [["B-PER", "I-PER", "O", "B-ORG", "O", "B-ORG", "O"]]  # LOC read as ORG; ORG cut short
    confusion = entity_metrics(gold, predicted)["confusion"]
    assert confusion["labels"] == ["LOC", "ORG", "PER", "O"]
    assert confusion["matrix"] == [[0, 1, 0, 0],   # gold LOC -> predicted ORG on the same span
                                   [0, 0, 0, 1],   # gold ORG (5-7) missed
                                   [0, 0, 1, 0],   # gold PER found
                                   [0, 1, 0, 0]]   # predicted ORG (5-6) matches no gold span


def test_strict_mode_an_inside_tag_after_o_is_no_entity():
    metrics = entity_metrics([["O", "B-PER"]], [["O", "I-PER"]])
    assert (metrics["precision"], metrics["recall"]) == (0.0, 0.0)


def test_no_entities_predicted_or_present_gives_zeros_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nothing_found = entity_metrics(GOLD, [["O"] * len(tags) for tags in GOLD])
        nothing_there = entity_metrics([["O", "O"]], [["O", "O"]])
    assert (nothing_found["f1"], nothing_found["recall"], nothing_found["entities"]) == (0.0, 0.0, 3)
    assert nothing_found["confusion"]["matrix"][-1] == [0, 0, 0, 0]
    assert (nothing_there["f1"], nothing_there["accuracy"], nothing_there["per_type"]) == (0.0, 1.0, {})


def test_mismatched_lengths_are_refused():
    with pytest.raises(ValueError):
        entity_metrics([["O", "O"]], [["O"]])


def test_most_frequent_tag_baseline():
    train_tokens = [["Paris", "is", "nice"], ["Paris", "Hilton"], ["Paris", "again"], ["tie", "tie"]]
    train_tags = [["B-LOC", "O", "O"], ["B-PER", "I-PER"], ["B-LOC", "O"], ["B-ORG", "O"]]
    eval_tokens = [["Paris", "is", "Berlin"], ["tie"]]
    eval_tags = [["B-LOC", "O", "B-LOC"], ["O"]]
    result = most_frequent_tag_baseline(train_tokens, train_tags, eval_tokens, eval_tags)
    assert result["method"] == "most frequent training tag per word"
    # Paris -> B-LOC (2 of 3), Berlin unseen -> O, "tie" 1:1 -> B-ORG (seen first): 1 of 2 entities, 1 of 2 right.
    assert (result["precision"], result["recall"]) == (0.5, 0.5)
    assert result["accuracy"] == pytest.approx(2 / 4)
    assert result["confusion"]["labels"] == ["LOC", "ORG", "O"]


def test_the_baseline_reads_a_lone_inside_tag_as_the_start_of_an_entity():
    result = most_frequent_tag_baseline([["New", "York"]], [["B-LOC", "I-LOC"]], [["York", "rocks"]], [["B-LOC", "O"]])
    assert (result["precision"], result["recall"]) == (1.0, 1.0)


def test_the_entity_f1_interval_resamples_sentences_counted_as_seqeval_counts():
    import numpy as np
    from seqeval.metrics import f1_score
    from seqeval.scheme import IOB2

    from tailor.evaluation.entities import entity_f1_interval

    rng = np.random.default_rng(0)
    gold, predicted = [], []
    for _ in range(300):
        sentence = ["B-PER", "I-PER", "O", "B-LOC", "O"]
        guess = list(sentence)
        if rng.random() < 0.3:
            guess[3] = "O"  # a missed location
        if rng.random() < 0.2:
            guess[1] = "O"  # a person cut short: a boundary error
        gold.append(sentence)
        predicted.append(guess)
    low, high = entity_f1_interval(gold, predicted)
    score = f1_score(gold, predicted, mode="strict", scheme=IOB2)
    assert low < score < high and high - low < 0.1
    assert entity_f1_interval(gold, gold) == [1.0, 1.0]
