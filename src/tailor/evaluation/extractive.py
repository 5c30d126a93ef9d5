"""Extractive answers: contexts cut into overlapping windows of tokens, and a model's start and end
scores read back into character spans of the context.

A context longer than one window (data.max_length tokens with its question) is covered by several,
each overlapping the last by `stride` tokens. For training, a window holds the answer's first and last
token, or points at its first token ([CLS]: "no answer here"). To answer, each window's best span (start
and end inside the context, end not before start, at most `max_answer_tokens` long) is scored start +
end logit, the question keeps its best span over its windows, and the "no answer" score is the lowest
[CLS] score of its windows (Hugging Face's run_qa, after Devlin et al.). The answer is empty where
no-answer beats the best span by more than the threshold. Only a few numbers per question are kept
while batches stream past, never the logits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class Windows:
    """Tokenized windows: model inputs, and for each window its question's index and the character
    span of each token in the context (None for the question, special and pad tokens)."""

    columns: dict
    question_of: list[int]
    offsets: list[list[tuple[int, int] | None]]

    def __len__(self) -> int:
        return len(self.question_of)


def windows(tokenizer, questions: list[str], contexts: list[str], max_length: int, stride: int,
            answers: list[list[dict]] | None = None) -> Windows:
    """The windows of every question; with `answers`, each window's start/end token positions (the
    first answer; 0, the [CLS] token, where the window does not hold it whole or there is none)."""
    encoded = tokenizer(questions, contexts, truncation="only_second", max_length=max_length, stride=stride,
                        return_overflowing_tokens=True, return_offsets_mapping=True)
    question_of = list(encoded.pop("overflow_to_sample_mapping"))
    raw_offsets = encoded.pop("offset_mapping")
    offsets = []
    for i, spans in enumerate(raw_offsets):
        sequence = encoded.sequence_ids(i)
        offsets.append([tuple(span) if sequence[t] == 1 else None for t, span in enumerate(spans)])
    columns = {key: list(value) for key, value in encoded.items()}
    if answers is not None:
        positions = [_positions(offsets[i], answers[question_of[i]]) for i in range(len(question_of))]
        columns["start_positions"] = [start for start, _ in positions]
        columns["end_positions"] = [end for _, end in positions]
    return Windows(columns, question_of, offsets)


def _positions(offsets: list, answers: list[dict]) -> tuple[int, int]:
    if not answers:
        return 0, 0
    start_char = answers[0]["start"]
    end_char = start_char + len(answers[0]["text"])
    inside = [t for t, span in enumerate(offsets) if span is not None]
    if not inside or offsets[inside[0]][0] > start_char or offsets[inside[-1]][1] < end_char:
        return 0, 0  # the answer is not whole in this window
    start = next(t for t in inside if offsets[t][1] > start_char)
    end = next(t for t in reversed(inside) if offsets[t][0] < end_char)
    return start, end


class AnswerCollector:
    """Per question: its best span's score and characters, and its lowest no-answer score, updated
    window by window in any order (memory: a few numbers a question)."""

    def __init__(self, questions: int):
        self.best_score = np.full(questions, -np.inf)
        self.best_span = np.zeros((questions, 2), dtype=np.int64)
        self.null_score = np.full(questions, np.inf)

    def add_batch(self, start_logits: torch.Tensor, end_logits: torch.Tensor, window_ids: list[int],
                  windows: Windows, max_answer_tokens: int) -> None:
        start_logits, end_logits = start_logits.float().cpu(), end_logits.float().cpu()
        for row, window in enumerate(window_ids):
            question, offsets = windows.question_of[window], windows.offsets[window]
            length = len(offsets)
            start, end = start_logits[row, :length], end_logits[row, :length]
            self.null_score[question] = min(self.null_score[question], float(start[0] + end[0]))
            score, first, last = _best_span(start, end, offsets, max_answer_tokens)
            if score > self.best_score[question]:
                self.best_score[question] = score
                self.best_span[question] = (offsets[first][0], offsets[last][1])

    def null_margins(self) -> np.ndarray:
        """How much each question's no-answer score beats its best span (answer empty above the threshold)."""
        return self.null_score - self.best_score

    def best_texts(self, contexts: list[str]) -> list[str]:
        """Each question's best span, as if it had to be answered ("" where no window had a span)."""
        return [context[start:end] if np.isfinite(score) else ""
                for context, (start, end), score in zip(contexts, self.best_span, self.best_score)]


def _best_span(start: torch.Tensor, end: torch.Tensor, offsets: list, max_answer_tokens: int):
    """(score, first token, last token) of the best span inside the context in one window."""
    inside = torch.tensor([span is not None for span in offsets])
    scores = start[:, None] + end[None, :]
    first, last = torch.meshgrid(torch.arange(len(offsets)), torch.arange(len(offsets)), indexing="ij")
    allowed = inside[:, None] & inside[None, :] & (last >= first) & (last - first < max_answer_tokens)
    if not allowed.any():
        return -np.inf, 0, 0
    best = int(scores.masked_fill(~allowed, -torch.inf).argmax())
    return float(scores.view(-1)[best]), best // len(offsets), best % len(offsets)
