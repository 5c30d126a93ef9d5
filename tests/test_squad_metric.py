"""SQuAD v2.0 metric: the numbers the official scorer prints, hand-worked cases, order independence."""

from __future__ import annotations

import random

import pytest

from tailor.evaluation.squad import SquadScores, exact_match, normalize_answer, token_f1

# (references, prediction, best_span, null_margin); [] = unanswerable.
CASES = [
    (["Denver Broncos", "Denver Broncos", "The Denver Broncos"], "the Denver Broncos!", "the Denver Broncos!", -3.2),
    (["cat sat down"], "the cat sat", "the cat sat", -1.0),
    (["Saint Bernadette Soubirous", "a copper statue of Christ"], "copper statue", "copper statue", 0.5),
    (["1994"], "", "in 1994", 2.0),  # answerable, left unanswered
    ([], "", "the Normans", 2.0),  # tied with the one before: the official scorer's mid-tie quirk
    ([], "France", "France", -0.5),  # unanswerable, answered
    (["the"], "", "The", 1.0),  # every reference normalises to "": gold [""] yet counted as answerable
    (["Rollo", "Rollo", "Rollo of Normandy"], "ROLLO.", "ROLLO.", -2.0),
    ([], "a", "a", 0.5),  # "a" normalises to "" (right), but answering it still costs 1 in the search
    (["10th and 11th centuries", "in the 10th and 11th centuries"], "10th century", "10th century", 0.0),
    ([], "", "William the Conqueror", 0.0),
    (["north north east"], "north east east", "north east east", 1.5),
    (["Tesla's  coil", "tesla coil"], "Tesla coil", "Tesla coil", -0.5),
    (["an apple"], "Banana", "banana", 3.0),
]

# Printed by the official scorer, huggingface/evaluate metrics/squad_v2/compute_score.py (last changed in
# commit d9e482ba25b368776bd09b58079363249b666719, identical at a7dd338386a4fae9a1767e05eb9ef9479513d9e8),
# run by hand on CASES written as data.json (answers.text = references) with
#   compute_score.py data.json pred.json                     (pred = prediction)
#   compute_score.py data.json span.json -n na_prob.json     (pred = best_span, na_prob = null_margin)
# and divided by 100.
OFFICIAL_RESULT = {"exact_match": 0.50, "f1": 0.6761904761904762, "total": 14,
                   "has_answer_exact_match": 0.40, "has_answer_f1": 0.6466666666666666, "has_answer_total": 10,
                   "no_answer_exact_match": 0.75, "no_answer_f1": 0.75, "no_answer_total": 4}
OFFICIAL_BEST = {"best_exact_match": 0.42857142857142854, "best_exact_match_threshold": -2.0,
                 "best_f1": 0.5809523809523809, "best_f1_threshold": 2.0}


def scores_of(cases) -> SquadScores:
    scores = SquadScores()
    for references, prediction, best_span, margin in cases:
        scores.add(prediction, references, null_margin=margin, best_span=best_span)
    return scores


def test_result_matches_official_script():
    result = scores_of(CASES).result()
    assert result == pytest.approx(OFFICIAL_RESULT, rel=1e-12)
    assert list(result) == list(OFFICIAL_RESULT)


def test_best_threshold_matches_official_script():
    assert scores_of(CASES).best_threshold() == pytest.approx(OFFICIAL_BEST, rel=1e-12)


def test_tied_margins_are_walked_in_order_of_addition():
    # Officially the F1 peak above is taken between the two questions at 2.0 (answering the first, not yet
    # the second); swapped, that peak is gone. Values from the official find_all_best_thresh on the swap.
    swapped = CASES[:3] + [CASES[4], CASES[3]] + CASES[5:]
    best = scores_of(swapped).best_threshold()
    assert (best["best_f1"], best["best_f1_threshold"]) == (pytest.approx(0.5333333333333333), 1.5)


def test_search_starts_from_nothing_answered():
    scores = SquadScores()
    scores.add("", [], null_margin=-5.0, best_span="Paris")
    scores.add("", ["Paris"], null_margin=-1.0, best_span="Rome")
    # Answering nothing is best, reported at the official starting threshold 0.0 (official: 50.0 at 0.0).
    assert scores.best_threshold() == {"best_exact_match": 0.5, "best_exact_match_threshold": 0.0,
                                       "best_f1": 0.5, "best_f1_threshold": 0.0}

    # An empty best_span on an unanswerable question costs nothing (official: 100.0 at -1.0).
    scores = SquadScores()
    scores.add("", [], null_margin=-2.0, best_span="")
    scores.add("", ["Paris"], null_margin=-1.0, best_span="Paris")
    assert scores.best_threshold() == {"best_exact_match": 1.0, "best_exact_match_threshold": -1.0,
                                       "best_f1": 1.0, "best_f1_threshold": -1.0}


@pytest.mark.parametrize("text, normalized", [
    ("The Cat", "cat"), ("  a  dog,  an owl! ", "dog owl"), ("Tesla's", "teslas"), ("theatre", "theatre"),
    ("U.S.A.", "usa"), ("5 a.m.", "5 am"), ("the", ""), ("", ""), ("x-ray", "xray"), ("Anne the", "anne"),
])
def test_normalize_answer(text, normalized):
    assert normalize_answer(text) == normalized


def test_partial_overlap_f1_by_hand():
    # "the cat sat" -> [cat, sat]; "cat sat down" -> [cat, sat, down]: P = 2/2, R = 2/3, F1 = 2PR/(P+R) = 0.8.
    assert token_f1("the cat sat", ["cat sat down"]) == pytest.approx(0.8)
    # A token counts as often as it occurs on both sides: "north north" shares 2 tokens, P = 1, R = 2/3;
    # "north east east" shares {north: 1, east: 1}, P = R = 2/3.
    assert token_f1("north north", ["north north east"]) == pytest.approx(0.8)
    assert token_f1("north east east", ["north north east"]) == pytest.approx(2 / 3)
    assert token_f1("banana", ["apple"]) == 0.0
    assert exact_match("the cat sat", ["cat sat down"]) == 0.0


def test_best_reference_counts():
    assert token_f1("copper statue", ["Saint Bernadette", "a copper statue of Christ"]) == pytest.approx(2 / 3)
    assert exact_match("Tesla coil", ["Tesla's coil", "tesla coil"]) == 1.0


def test_empty_answers():
    assert exact_match("", []) == token_f1("", []) == 1.0
    assert exact_match("", [""]) == token_f1("", ["  "]) == 1.0
    assert exact_match("", ["the"]) == token_f1("", ["a", "."]) == 1.0  # references empty once normalised
    assert exact_match("Paris", []) == token_f1("Paris", []) == 0.0
    assert exact_match("", ["Paris"]) == token_f1("", ["Paris"]) == 0.0


def test_result_does_not_depend_on_order():
    expected = scores_of(CASES).result()
    for seed in range(5):
        shuffled = list(CASES)
        random.Random(seed).shuffle(shuffled)
        assert scores_of(shuffled).result() == expected


def test_kinds_absent_are_left_out_and_margins_are_required():
    scores = SquadScores()
    scores.add("Paris", ["Paris"])
    assert scores.result() == {"exact_match": 1.0, "f1": 1.0, "total": 1,
                               "has_answer_exact_match": 1.0, "has_answer_f1": 1.0, "has_answer_total": 1}
    with pytest.raises(ValueError, match="null_margin and best_span"):
        scores.best_threshold()
    with pytest.raises(ValueError, match="go together"):
        scores.add("Paris", ["Paris"], null_margin=1.0)


def test_chinese_answers_are_scored_by_character_as_cmrc_2018_does():
    from tailor.evaluation.squad import exact_match, token_f1

    # 北京 shares 2 of 北京大学's 4 characters: precision 1, recall 1/2, F1 2/3 (one word each would give 0)
    assert token_f1("北京", ["北京大学"]) == pytest.approx(2 / 3)
    assert exact_match("北京大学。", ["北京大学"]) == 1.0  # CJK punctuation is dropped like ASCII's
    assert token_f1("in 北京 today", ["北京"]) == pytest.approx(2 * (2 / 4) * 1 / (2 / 4 + 1))
    # English keeps the official script's rules: curly quotes are not ASCII punctuation
    assert exact_match("“Paris”", ["Paris"]) == 0.0
