"""Tokenization that reports truncation instead of hiding it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Truncation:
    count: int  # inputs longer than max_length, cut to fit
    total: int
    max_length: int
    longest: int

    def message(self, what: str) -> str | None:
        if not self.count:
            return None
        return (f"{self.count:,} of {self.total:,} {what} ({100 * self.count / self.total:.1f}%) are longer than "
                f"data.max_length={self.max_length} tokens (longest {self.longest}) and were truncated; raise "
                "data.max_length to keep more of them")


def tokenize_truncating(tokenizer, texts: list[str], pairs: list[str] | None, max_length: int):
    """Tokenize once in full to count what does not fit, and again with truncation only if needed."""
    encoded = tokenizer(texts, pairs, truncation=False, verbose=False)
    lengths = [len(ids) for ids in encoded["input_ids"]]
    longest = max(lengths, default=0)
    too_long = sum(length > max_length for length in lengths)
    if too_long:
        encoded = tokenizer(texts, pairs, truncation=True, max_length=max_length)
    return encoded, Truncation(too_long, len(texts), max_length, longest)
