"""SQuAD v2.0 exact match and token F1, and the no-answer threshold search, as the official scorer computes them.

A re-implementation of the official `evaluate-v2.0.py` (SQuAD website), vendored as
huggingface/evaluate `metrics/squad_v2/compute_score.py` and transformers
`src/transformers/data/metrics/squad_metrics.py`: `evaluate.load("squad_v2")` downloads that script
from the hub, which fails offline, so the algorithm is copied here function for function, quirks included.

The deliberate differences: scores are fractions in 0..1, where the official script prints
percentages (its `exact` 66.7 is our `exact_match` 0.667); and Chinese and Japanese answers are scored
as CMRC 2018's scorer scores them (each CJK character a word, CJK punctuation dropped), where the official
script would take a whole answer for one word. Text without CJK characters scores exactly as officially. Its `na_prob` (the model's probability that
a question has no answer) is played by `null_margin`, the null score minus the best span's score,
exactly as transformers' run_squad passes its null odds as `na_prob`.
"""

from __future__ import annotations

import math
import re
import string
from collections import Counter
from typing import NamedTuple

from tailor.data.scripts import CJK_PUNCTUATION, split_cjk

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = set(string.punctuation)
_CJK_PUNCTUATION = re.compile(f"[{CJK_PUNCTUATION}]")


def normalize_answer(text: str) -> str:
    """Lower case, drop punctuation, then articles, then collapse whitespace (the official order).
    Ours: CJK punctuation (，。「」) goes too, as CMRC 2018's scorer drops it; the official script knows only
    ASCII's, so English answers are scored exactly as it scores them."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    text = _CJK_PUNCTUATION.sub("", text)
    return " ".join(_ARTICLES.sub(" ", text).split())


def _tokens(text: str) -> list[str]:
    """Words at spaces, and (ours, as CMRC 2018's scorer) each CJK character a word of its own: a Chinese
    answer has no spaces, and would otherwise be one word, all right or all wrong."""
    return split_cjk(normalize_answer(text)).split() if text else []


def _exact(gold: str, prediction: str) -> int:
    return int(normalize_answer(gold) == normalize_answer(prediction))


def _f1(gold: str, prediction: str) -> float:
    gold_tokens, predicted_tokens = _tokens(gold), _tokens(prediction)
    if not gold_tokens or not predicted_tokens:
        # Either side is "no answer": full marks only when both are.
        return float(gold_tokens == predicted_tokens)
    same = sum((Counter(gold_tokens) & Counter(predicted_tokens)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(predicted_tokens), same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def _gold(references: list[str]) -> list[str]:
    """The answers scored against: those not empty once normalised, else [""] (only silence is right)."""
    return [text for text in references if normalize_answer(text)] or [""]


def exact_match(prediction: str, references: list[str]) -> float:
    """1.0 when the prediction equals one of the references after normalize_answer, else 0.0."""
    return float(max(_exact(gold, prediction) for gold in _gold(references)))


def token_f1(prediction: str, references: list[str]) -> float:
    """The best bag-of-tokens F1 of the prediction against any one reference."""
    return max(_f1(gold, prediction) for gold in _gold(references))


class _Question(NamedTuple):
    has_answer: bool
    exact: float
    f1: float
    margin: float | None  # null_margin, the official na_prob
    # What answering with best_span adds over saying "no answer" (the official find_best_thresh's diff):
    exact_gain: float | None
    f1_gain: float | None


class SquadScores:
    """Accumulates question by question (feed it batch by batch during evaluation); keeps a handful of
    numbers per question (no texts, no logits) so memory stays tiny even for 100k questions."""

    def __init__(self) -> None:
        self._questions: list[_Question] = []

    def add(self, prediction: str, references: list[str], *, null_margin: float | None = None,
            best_span: str | None = None) -> None:
        """Score one question. prediction: the answer given ("" = unanswerable); references: the gold
        texts ([] for an unanswerable question). null_margin, how much the model prefers "no answer" over
        its best span (null score - best span score), and best_span, that span's text (the answer it would
        give if made to answer), are needed only by best_threshold, and go together."""
        if (null_margin is None) != (best_span is None):
            raise ValueError("null_margin and best_span go together: give both or neither")
        # The official script calls a question answerable when its answer list is not empty, even if
        # every answer normalises to "" (then gold is [""] but it still counts under has_answer).
        has_answer = bool(references)
        exact_gain = f1_gain = None
        if best_span is not None:
            if has_answer:
                exact_gain, f1_gain = exact_match(best_span, references), token_f1(best_span, references)
            else:
                # Answering an unanswerable question loses the point silence earned, unless the span is
                # the empty string (the raw text is tested, not its normalised form, as officially).
                exact_gain = f1_gain = -1.0 if best_span else 0.0
        self._questions.append(_Question(has_answer, exact_match(prediction, references),
                                         token_f1(prediction, references),
                                         None if null_margin is None else float(null_margin), exact_gain, f1_gain))

    def result(self) -> dict:
        """exact_match, f1 and total over all questions, then the same prefixed has_answer_ and
        no_answer_ for each kind present (as the official HasAns_/NoAns_ keys). The predictions are scored
        as given: null_margin plays no part (the official script's --na-prob-thresh, 1.0 by default, would
        blank answers whose na_prob exceeds it; a margin is no probability, so that cut is left out)."""
        scores = _averages(self._questions, "")
        for prefix, has_answer in (("has_answer_", True), ("no_answer_", False)):
            kind = [question for question in self._questions if question.has_answer == has_answer]
            if kind:
                scores.update(_averages(kind, prefix))
        return scores

    def best_threshold(self) -> dict:
        """The official find_best_thresh with na_prob = null_margin and answers = best_span: the
        threshold on null_margin (answer "no answer" when null_margin > threshold) that maximises exact
        match, and the one that maximises F1, with those scores.

        Copied as is, two quirks included: the search starts from "answer nothing" reported with
        threshold 0.0 (which answers every question with null_margin <= 0, so need not give that score), and it
        steps one question at a time, so among questions tied on null_margin the best score may be taken
        part-way through the tie (ties are walked in the order they were added) and then not be quite
        what the returned threshold gives."""
        if any(question.margin is None for question in self._questions):
            raise ValueError("best_threshold needs null_margin and best_span for every question")
        best_exact, exact_threshold = _find_best_threshold(self._questions, "exact_gain")
        best_f1, f1_threshold = _find_best_threshold(self._questions, "f1_gain")
        return {"best_exact_match": best_exact, "best_exact_match_threshold": exact_threshold,
                "best_f1": best_f1, "best_f1_threshold": f1_threshold}


def _averages(questions: list[_Question], prefix: str) -> dict:
    total = len(questions)
    # fsum: the same result whatever order the questions came in.
    return {f"{prefix}exact_match": math.fsum(q.exact for q in questions) / max(total, 1),
            f"{prefix}f1": math.fsum(q.f1 for q in questions) / max(total, 1), f"{prefix}total": total}


def _find_best_threshold(questions: list[_Question], gain: str) -> tuple[float, float]:
    # Threshold below every margin: nothing answered, so exactly the unanswerable questions are right.
    score = best = sum(1 for question in questions if not question.has_answer)
    threshold = 0.0  # the official starting value
    # Raising the threshold past each margin in turn answers that question; sorted() is stable, so tied
    # margins keep the order of add(), as the official sort keeps the order of its na_prob file.
    for question in sorted(questions, key=lambda question: question.margin):
        score += getattr(question, gain)
        if score > best:
            best, threshold = score, question.margin
    return best / max(len(questions), 1), threshold
