"""Conversations -> token ids and training labels, rendered by the model's own chat template.

Why this way: the template that renders a conversation at training time must be the one that
renders the prompt at inference time, or the tuned model sees a format it never learned. So we
never hand-write a format: the tokenizer's template renders the whole conversation, and each
assistant turn is located by rendering the conversation up to it (with the generation prompt).
Labels cover the assistant's text and the end-of-turn token that follows it (so the tuned model
learns to stop), and nothing else unless `train_on="all"`.
"""

from __future__ import annotations

from dataclasses import dataclass

from tailor.data.conversations import Turn, as_messages
from tailor.data.examples import IGNORE  # noqa: F401  (packing and the LM loss read it from here too)
from tailor.errors import ModelError


@dataclass
class Encoded:
    input_ids: list[int]
    labels: list[int]


@dataclass(frozen=True)
class LengthReport:
    """What did not fit in data.max_length: always counted and reported, never silent."""

    truncated: int
    dropped: int
    total: int
    max_length: int
    longest: int

    @property
    def count(self) -> int:
        return self.truncated + self.dropped

    def message(self, what: str) -> str | None:
        if not self.count:
            return None
        done = []
        if self.truncated:
            done.append(f"{self.truncated:,} truncated")
        if self.dropped:
            done.append(f"{self.dropped:,} dropped")
        return (f"{self.count:,} of {self.total:,} {what} are longer than data.max_length="
                f"{self.max_length} tokens (longest {self.longest}): {', '.join(done)}; raise data.max_length "
                "to keep them whole")


def render_prompt(tokenizer, messages: list[dict]) -> list[int]:
    """The tokens a model is given to answer `messages` (they end with the assistant's header).
    Training renders conversations through `encode_conversation`, which yields the same tokens."""
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def encode_conversation(tokenizer, turns: list[Turn], train_on: str = "assistant") -> Encoded:
    messages = as_messages(turns)
    full = tokenizer.apply_chat_template(messages, tokenize=False)
    spans = [(0, len(full))] if train_on == "all" else _assistant_spans(tokenizer, messages, turns, full)
    encoding = tokenizer(full, add_special_tokens=False, return_offsets_mapping=True)
    ids = encoding["input_ids"]
    labels = [token if any(start <= s < end for start, end in spans) else IGNORE
              for token, (s, _) in zip(ids, encoding["offset_mapping"])]
    return Encoded(ids, labels)


def encode_example(tokenizer, value: str | list[Turn], train_on: str = "assistant") -> Encoded:
    """One example of any chat format: a conversation, or a plain text document."""
    return encode_text(tokenizer, value) if isinstance(value, str) else encode_conversation(tokenizer, value, train_on)


def encode_text(tokenizer, text: str) -> Encoded:
    """Plain text for continued pre-training: every token is a target, and EOS ends the document."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    if tokenizer.eos_token_id is not None:
        ids = ids + [tokenizer.eos_token_id]
    return Encoded(ids, list(ids))


def fit_length(encoded: Encoded, max_length: int, overlong: str) -> Encoded | None:
    """Cut to max_length (overlong="truncate") or drop (None). An example left with no trained
    token is dropped too: it would teach nothing."""
    if len(encoded.input_ids) > max_length:
        if overlong == "drop":
            return None
        encoded = Encoded(encoded.input_ids[:max_length], encoded.labels[:max_length])
    return encoded if any(label != IGNORE for label in encoded.labels[1:]) else None


def _assistant_spans(tokenizer, messages: list[dict], turns: list[Turn], full: str) -> list[tuple[int, int]]:
    """Character spans of the trained assistant turns: from the end of the prompt that precedes a
    turn to the end of the turn's own rendering, without trailing whitespace (the end-of-turn
    token is in; the newline a template puts after it is not)."""
    spans = []
    for index, turn in enumerate(turns):
        if turn.role != "assistant" or not turn.train:
            continue
        before = tokenizer.apply_chat_template(messages[:index], tokenize=False, add_generation_prompt=True)
        through = tokenizer.apply_chat_template(messages[: index + 1], tokenize=False)
        if not (full.startswith(through) and through.startswith(before)):
            raise ModelError("the model's chat template renders a conversation differently from its beginning "
                             "(e.g. it rewrites earlier turns), so the assistant's tokens cannot be located; "
                             "use chat.train_on=all or a model with a standard template")
        spans.append((len(before), len(through.rstrip())))
    return spans
