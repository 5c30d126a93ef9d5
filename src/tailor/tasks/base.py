"""The Task protocol: what a task must say; the engine, readers and reports do the rest."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Protocol

from tailor.config import Config
from tailor.data.examples import Examples


@dataclass(frozen=True)
class Field:
    """One input field of an example: `role` inside tailor, `column` in the user's file."""

    role: str
    column: str
    config_key: str
    kind: str = "text"  # "text" must be non-empty; "label" must be present
    required: bool = True


class Task(Protocol):
    name: ClassVar[str]
    summary: ClassVar[str]
    default_model: ClassVar[str]
    auto_model: ClassVar[str]  # transformers Auto class that loads a saved model/ folder

    def fields(self, cfg: Config) -> list[Field]: ...

    def fit_labels(self, train: Examples, evals: list[Examples]) -> list[str]: ...

    def build_model(self, source: str, cfg: Config, labels: list[str], **load_kwargs) -> Any: ...

    def preprocess(self, examples: Examples, tokenizer, cfg: Config, label2id: dict[str, int]) -> Any: ...

    def collator(self, tokenizer) -> Callable: ...

    def training_metrics(self, eval_pred) -> dict[str, float]: ...

    def evaluate(self, model, tokenizer, examples: Examples, cfg: Config, batch_size: int) -> dict: ...

    def predict(self, model, tokenizer, examples: Examples, cfg: Config, batch_size: int) -> list[dict]: ...
