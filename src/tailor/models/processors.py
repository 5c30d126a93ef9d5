"""Input processors a task can ask for: what turns raw inputs into model inputs."""

from __future__ import annotations

from tailor.config import Config
from tailor.console import warn


def load_tokenizer(location: str, cfg: Config, *, fast_for: str | None = None, **load_kwargs):
    """The model's tokenizer; data.max_length is capped at what the model accepts (said once).
    `fast_for` names a task that maps tokens back to words or characters, which only fast tokenizers
    (tokenizer.json) can: a slow one is refused."""
    from transformers import AutoTokenizer

    from tailor.errors import ModelError

    tokenizer = AutoTokenizer.from_pretrained(location, **load_kwargs)
    if fast_for and not tokenizer.is_fast:
        raise ModelError(f"model {location}: {fast_for} needs a fast tokenizer (tokenizer.json)")
    limit = getattr(tokenizer, "model_max_length", None)
    if limit and cfg.data.max_length and limit < cfg.data.max_length:
        warn(f"data.max_length={cfg.data.max_length} is more than the model accepts; using {limit}")
        cfg.data.max_length = limit
    return tokenizer
