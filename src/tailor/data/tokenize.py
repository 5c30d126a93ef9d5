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


def encode_pairs(tokenizer, inputs: list[str], targets: list[str], max_length: int, overlong: str, path):
    """Inputs and their target texts for an encoder-decoder: the input ids, and the target ids as the
    decoder's labels, ending with the end-of-sequence token (added where the tokenizer does not add it,
    or the model never learns to stop). Either side longer than max_length is cut or the pair dropped
    (overlong="drop"), and counted."""
    from datasets import Dataset

    from tailor.data.chat_tokens import LengthReport
    from tailor.errors import DataError
    from tailor.tasks.base import Encoded

    sources = tokenizer(inputs, truncation=False, verbose=False)["input_ids"]
    labels = tokenizer(text_target=targets, truncation=False, verbose=False)["input_ids"]
    eos = tokenizer.eos_token_id
    rows = {"input_ids": [], "attention_mask": [], "labels": []}
    truncated = dropped = longest = 0
    for source, target in zip(sources, labels):
        if eos is not None and target[-1:] != [eos]:
            target = target + [eos]
        longest = max(longest, len(source), len(target))
        if max(len(source), len(target)) > max_length:
            if overlong == "drop":
                dropped += 1
                continue
            truncated += 1
            source, target = source[:max_length], target[:max_length]
        rows["input_ids"].append(source)
        rows["attention_mask"].append([1] * len(source))
        rows["labels"].append(target)
    if not rows["input_ids"]:
        raise DataError(path, f"none of the {len(inputs)} examples fits in data.max_length={max_length} tokens (the "
                        f"longest has {longest})", "Raise data.max_length or set seq2seq.overlong=truncate")
    report = LengthReport(truncated, dropped, len(inputs), max_length, longest)
    lengths = [len(s) + len(t) for s, t in zip(rows["input_ids"], rows["labels"])]
    return Encoded(Dataset.from_dict(rows), lengths, report)
