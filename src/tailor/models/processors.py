"""Input processors a task can ask for: what turns raw inputs into model inputs."""

from __future__ import annotations

from tailor.config import Config
from tailor.console import warn


def load_tokenizer(location: str, cfg: Config, **load_kwargs):
    """The model's tokenizer; data.max_length is capped at what the model accepts (said once)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(location, **load_kwargs)
    limit = getattr(tokenizer, "model_max_length", None)
    if limit and cfg.data.max_length and limit < cfg.data.max_length:
        warn(f"data.max_length={cfg.data.max_length} is more than the model accepts; using {limit}")
        cfg.data.max_length = limit
    return tokenizer
