"""Scores of generated texts against references, batch by batch (memory stays flat as data grows).

- exact_match: the share of outputs equal to their reference (surrounding whitespace aside).
- bleu, chrf: sacrebleu's corpus scores (0-100), from sufficient statistics summed over batches, so the
  result equals sacrebleu's corpus_score over the whole set. BLEU tokenizes with sacrebleu's `13a`, or with
  its `zh` tokenizer when the references hold Chinese, Japanese or Korean characters (13a would count a
  whole Chinese sentence as one word); chrF compares characters and needs no tokenizer.
- rouge_l: rouge-score's ROUGE-L F-measure, averaged over examples (0-1), with a tokenizer that keeps
  CJK characters (rouge-score's default keeps only a-z0-9, which scores any Chinese text 0) and letters
  of every script.
"""

from __future__ import annotations

import re

from tailor.data.scripts import CJK_CHARACTERS, has_cjk

# One CJK character, or a run of letters and digits of other scripts.
_WORD_OR_CJK = re.compile(f"[{CJK_CHARACTERS}]|[^\\W_{CJK_CHARACTERS}]+")


class WordsAndCharacters:
    """rouge-score tokenizer: lowercased runs of letters/digits of any script, each CJK character alone."""

    def tokenize(self, text: str) -> list[str]:
        return _WORD_OR_CJK.findall(text.lower())


class GeneratedScores:
    """Add (outputs, references) a batch at a time; `result()` gives every score."""

    def __init__(self):
        from rouge_score.rouge_scorer import RougeScorer
        from sacrebleu.metrics import BLEU, CHRF

        # BLEU statistics under both tokenizers: which one applies is known only once every reference is seen.
        self._bleu = {"13a": BLEU(tokenize="13a"), "zh": BLEU(tokenize="zh")}
        self._chrf = CHRF()
        self._rouge = RougeScorer(["rougeL"], tokenizer=WordsAndCharacters())
        self._bleu_stats = {name: None for name in self._bleu}
        self._chrf_stats = None
        self.count = self.exact = 0
        self.rouge_l_sum = 0.0
        self.cjk = False

    def add(self, outputs: list[str], references: list[str]) -> None:
        self.count += len(outputs)
        self.exact += sum(o.strip() == r.strip() for o, r in zip(outputs, references))
        self.cjk = self.cjk or any(has_cjk(r) for r in references)
        for name, metric in self._bleu.items():
            self._bleu_stats[name] = _summed(self._bleu_stats[name], metric, outputs, references)
        self._chrf_stats = _summed(self._chrf_stats, self._chrf, outputs, references)
        self.rouge_l_sum += sum(self._rouge.score(r, o)["rougeL"].fmeasure for o, r in zip(outputs, references))

    @property
    def bleu_tokenizer(self) -> str:
        return "zh" if self.cjk else "13a"

    def result(self) -> dict:
        if not self.count:
            return {"exact_match": 0.0, "bleu": 0.0, "chrf": 0.0, "rouge_l": 0.0, "examples": 0}
        tokenizer = self.bleu_tokenizer
        bleu = self._bleu[tokenizer]._compute_score_from_stats(self._bleu_stats[tokenizer])
        chrf = self._chrf._compute_score_from_stats(self._chrf_stats)
        return {"exact_match": round(self.exact / self.count, 4), "bleu": round(bleu.score, 2),
                "chrf": round(chrf.score, 2), "rouge_l": round(self.rouge_l_sum / self.count, 4),
                "examples": self.count, "bleu_tokenizer": tokenizer}


def score_texts(outputs: list[str], references: list[str]) -> dict:
    scores = GeneratedScores()
    scores.add(outputs, references)
    return scores.result()


def _summed(total: list | None, metric, outputs: list[str], references: list[str]) -> list:
    """A batch's sufficient statistics (sacrebleu's per-sentence counts) added to the running total."""
    stats = metric._extract_corpus_statistics(list(outputs), [list(references)])
    batch = [sum(column) for column in zip(*stats)]
    return batch if total is None else [a + b for a, b in zip(total, batch)]
