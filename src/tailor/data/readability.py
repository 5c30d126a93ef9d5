"""Which embedded model can read a data set's text: measured on the text itself, before any training.

An English WordPiece vocabulary (MiniLM) turns most Chinese characters into [UNK], and what is unknown
is lost to the model. A byte-level BPE (SmolLM2) never has an unknown token: a character it has no
token for is spelled in its UTF-8 bytes ("byte pieces"), which the model can still learn from, at the
cost of more tokens a character. `tailor data check` prints both rates for every embedded model that
can learn the task. `model: auto` keeps the task's default model where it reads the text; where it
cannot, reading is not enough to choose (MiniLM, blind to 64% of Chinese review tokens, still beat
SmolLM2 on them), so the models are tried (verbs/auto.py).
"""

from __future__ import annotations

from dataclasses import dataclass

SAMPLE_TEXTS = 1000
UNREADABLE = 0.05  # more unknown tokens than this: the model cannot read the language


@dataclass(frozen=True)
class Reading:
    model: str
    unknown: float  # share of tokens that are the unknown token
    byte_pieces: float  # share of tokens that are parts of one character's UTF-8 bytes
    tokens_per_character: float

    def line(self) -> str:
        pieces = f", {100 * self.byte_pieces:.1f}% byte pieces" if self.byte_pieces else ""
        return (f"{self.model}: {100 * self.unknown:.1f}% unknown tokens{pieces}, "
                f"{self.tokens_per_character:.2f} tokens a character")


def measure(tokenizer, texts: list[str], model: str) -> Reading:
    """The rates for one tokenizer on (up to SAMPLE_TEXTS of) the texts."""
    texts = [t for t in texts[:SAMPLE_TEXTS] if t]
    ids = tokenizer(texts, add_special_tokens=False, truncation=False, verbose=False)["input_ids"]
    total = max(sum(len(row) for row in ids), 1)
    unknown = sum(row.count(tokenizer.unk_token_id) for row in ids) if tokenizer.unk_token_id is not None else 0
    partial = _partial_tokens(tokenizer, {token for row in ids for token in row})
    pieces = sum(token in partial for row in ids for token in row)
    characters = max(sum(len(t) for t in texts), 1)
    return Reading(model, round(unknown / total, 4), round(pieces / total, 4), round(total / characters, 3))


def embedded_for(task: str) -> list[str]:
    """The installed embedded models that can learn `task`."""
    from tailor.models.catalog import EMBEDDED

    return [alias for alias, model in EMBEDDED.items() if task in model.tasks and model.installed()]


def embedded_readings(texts: list[str], task: str) -> list[Reading]:
    """Every installed embedded model that can learn `task`, measured on the texts."""
    from tailor.models.catalog import EMBEDDED

    return [measure(EMBEDDED[alias].tokenizer(), texts, alias) for alias in embedded_for(task)]


def better_reader(readings: list[Reading], default: str) -> str:
    """The task's default model, unless it cannot read the text (over UNREADABLE unknown tokens) and
    another model reads more of it."""
    by_name = {r.model: r for r in readings}
    if default not in by_name or by_name[default].unknown <= UNREADABLE:
        return default
    return min(readings, key=lambda r: (r.unknown, r.byte_pieces)).model


def _partial_tokens(tokenizer, ids: set[int]) -> set[int]:
    """The tokens that decode to less than a whole character (a replacement character on their own)."""
    return {token for token in ids if "\ufffd" in tokenizer.decode([token])}


def texts_of(examples) -> list[str] | None:
    """The text a model reads in these examples (None: the task's inputs are not text)."""
    columns = examples.columns
    for role in ("text", "source", "context"):
        if role in columns:
            return [str(value) for value in columns[role][:SAMPLE_TEXTS]]
    if "tokens" in columns:  # words one a line: the text they make (no spaces between CJK characters)
        from tailor.data.tags import tokens_to_text

        return [tokens_to_text(tokens)[0] for tokens in columns["tokens"][:SAMPLE_TEXTS]]
    return None


def auto_model(task, cfg) -> tuple[str, list[Reading]]:
    """`model: auto`: the embedded model that reads the training data best (see better_reader)."""
    from tailor.errors import ConfigError
    from tailor.tasks.base import HasOwnData

    texts = None if isinstance(task, HasOwnData) else texts_of(task.read(cfg.data.train, cfg))
    readings = embedded_readings(texts, task.name) if texts else []
    if not readings:
        raise ConfigError(f"model: auto picks among the embedded models that read text; task {task.name} has none "
                          "to choose from; name a model (see `tailor models`)")
    return better_reader(readings, task.default_model), readings
