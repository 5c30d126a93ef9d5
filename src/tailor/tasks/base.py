"""The Task protocol: what a task must say; the engine, readers and reports do the rest."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar, Protocol

from tailor.config import Config
from tailor.data.examples import Examples
from tailor.data.loading import TaskData


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
    pipeline_tag: ClassVar[str]  # the Hugging Face pipeline that serves the saved model
    peft_task_type: ClassVar[str]
    # Settings the config leaves open (None) that this task decides, as dotted keys.
    defaults: ClassVar[dict[str, Any]]

    stratify_by: ClassVar[str | None]  # example role a held-out split keeps the proportions of
    # The attention kernel measured fastest for this task's usual shapes when training on a CPU
    # (model.attention=auto); None keeps transformers' default.
    cpu_attention: ClassVar[str | None]

    def read_inputs(self, path: Path, cfg: Config, *, with_targets: bool = True, split: str = "train") -> Examples:
        """Validated examples from one file: for training and `tailor eval` (with targets) or for
        `tailor predict` (without). `split` picks the split of a saved DatasetDict folder."""

    def read_extras(self, cfg: Config) -> dict:
        """Other inputs the config names (e.g. chat's held-out prompts), read before training starts."""

    def fit_labels(self, train: Examples, evals: list[Examples], label_column: str) -> list[str]:
        """The label set (empty for tasks without labels); an eval label unseen in training is an error."""

    def build_model(self, source: str, cfg: Config, data: TaskData, **load_kwargs) -> Any: ...

    def preprocess(self, examples: Examples, tokenizer, cfg: Config, data: TaskData | None) -> tuple[Any, Any]:
        """(dataset of model inputs, a report with .message(what) of what did not fit max_length)"""

    def collator(self, tokenizer, cfg: Config) -> Callable: ...

    def training_metrics(self, eval_pred) -> dict[str, float] | None: ...

    training_loss: ClassVar[Callable | None]  # replaces the model's own loss in the engine, or None

    def final_metrics(self, model, tokenizer, data: TaskData, cfg: Config, base_source: str) -> dict:
        """metrics.json entries beyond the run facts: `eval` and the baselines to compare with."""

    def save_model(self, model, tokenizer, folder: Path) -> Any:
        """Write model/ (with the tokenizer); returns the model that was saved."""

    def load_model(self, folder: Path) -> Any: ...

    def evaluate(self, model, tokenizer, examples: Examples, cfg: Config, batch_size: int) -> dict: ...

    def predict(self, model, tokenizer, examples: Examples, cfg: Config, batch_size: int) -> list[dict]: ...
