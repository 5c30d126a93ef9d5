"""The typed run config: YAML in, dotted command-line overrides on top, JSON schema out.

Sections are grouped by concern (task, model, method, data, train, eval, output, distill, search;
config_sections.py) plus the task's own. Every field has a default a practitioner would pick, except
`task` and `data.train`. Paths written in a
config file are relative to that file; paths given as command-line overrides are relative to
the current directory (what a shell user expects).
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from tailor.config_sections import (  # noqa: F401  (the sections are part of this module's API)
    COLUMN_KEYS, DataSection, DistillSection, EvalSection, FreezeSection, LoraSection, ModelSection, OutputSection,
    SearchSection, Section, TrainSection)
from tailor.errors import ConfigError


class Config(Section):
    """The shared sections. A run's config is this plus the section of its task (see `config_class`)."""

    task: str = Field(description="what to learn; see `tailor tasks`")
    model: ModelSection = ModelSection()
    method: Literal["full", "freeze", "lora"] | None = Field(None, description="which weights train; default "
                                                                              "per task (full; lora for chat)")
    freeze: FreezeSection = FreezeSection()
    lora: LoraSection = LoraSection()
    data: DataSection = DataSection()
    train: TrainSection = TrainSection()
    eval: EvalSection = EvalSection()
    output: OutputSection = OutputSection()
    distill: DistillSection = DistillSection()
    search: SearchSection = SearchSection()
    vars: dict[str, str] = Field(default_factory=dict, description="values for {placeholders} in the data "
                                 "files; set one from the command line as NAME=value")

    @field_validator("model", mode="before")
    @classmethod
    def _model_shorthand(cls, value):
        return {"name": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _train_file_given(self):
        if self.data.train is None and not _reads_own_data(self.task):
            raise ValueError("data.train is required: the file with your labelled training examples")
        return self

    @model_validator(mode="after")
    def _adversarial_needs_token_inputs(self):
        """Refused before any data is read: the push acts on the embeddings of input tokens, in the engine's steps."""
        from tailor.tasks import TASKS, task_class

        mode = self.train.adversarial
        if mode == "none" or self.task not in TASKS:
            return self
        kind = task_class(self.task).processor_kind
        if kind != "tokenizer":
            raise ValueError(f"train.adversarial={mode} pushes the embeddings of input tokens: for text tasks (text "
                             f"and token classification, chat); task {self.task} reads its inputs with an {kind}, "
                             "not a tokenizer")
        if self.train.strategy == "few-shot":
            raise ValueError(f"train.adversarial={mode}: not with train.strategy=few-shot (its contrastive stage "
                             "trains on pairs of texts, not in the engine's steps)")
        return self

    @property
    def options(self):
        """The chosen task's own section (e.g. cfg.chat for task chat)."""
        return getattr(self, section_name(self.task))


def _reads_own_data(task: str) -> bool:
    """A task whose files are named in its own section (multi-task: one per head), not by data.train."""
    from tailor.tasks import TASKS, task_class
    from tailor.tasks.base import HasOwnData

    return task in TASKS and issubclass(task_class(task), HasOwnData)


class TaskOptions(Section):
    """Base of a task's own config section (Task.Options)."""


def section_name(task: str) -> str:
    """The config section a task owns: its name as an identifier (token-classification ->
    token_classification)."""
    return task.replace("-", "_")


# Keys that moved into a task's own section; an old config gets one line saying where.
MOVED_KEYS = {
    "data.format": "chat.format", "data.packing": "chat.packing", "data.train_on": "chat.train_on",
    "data.overlong": "chat.overlong", "eval.prompts": "chat.prompts", "eval.samples": "chat.samples",
    "eval.max_new_tokens": "chat.max_new_tokens",
    "eval.classical_baseline": "text_classification.classical_baseline",
}

_CLASSES: dict[str, type[Config]] = {}


def config_class(task: str) -> type[Config]:
    """Config with the task's own section added (typed by the task's Options)."""
    if task not in _CLASSES:
        from pydantic import create_model

        from tailor.tasks import task_class

        options = task_class(task).Options
        _CLASSES[task] = create_model(f"{options.__name__.removesuffix('Options')}Config", __base__=Config,
                                      **{section_name(task): (options, Field(default_factory=options,
                                                                             description=f"options of task {task}"))})
    return _CLASSES[task]


# Fields holding paths that are written relative to the config file (a task section's Path fields too).
_PATH_FIELDS = (("data", "train"), ("data", "eval"), ("data", "test"), ("output", "dir"))


def load_config(path: str | Path | None, overrides: list[str] = (), *, base: dict | None = None) -> Config:
    """Read a YAML config, apply `key.sub=value` overrides, validate against the shared sections
    and the task's own. Raises ConfigError."""
    raw: dict[str, Any] = dict(base or {})
    source = "config"
    config_dir = None
    if path is not None:
        path = Path(path)
        source = str(path)
        raw = _read_yaml(path)
        config_dir = path.resolve().parent
    task = _task_name(raw, overrides, source)
    if config_dir is not None:
        _resolve_paths(raw, config_dir, task)
        raw.setdefault("output", {})
        if isinstance(raw["output"], dict) and not raw["output"].get("dir"):
            raw["output"]["dir"] = str(Path("runs") / path.stem)  # under the current directory
    for override in overrides:
        _apply_override(raw, override)
    cls = config_class(task)
    _check_keys(raw, cls, prefix="", source=source, task=task)
    try:
        config = cls.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {_first_error(exc)}") from exc
    _check_columns(config, source)
    if config.output.dir is None:
        config.output.dir = Path("runs") / config.task
    return config


def _task_name(raw: dict, overrides: list[str], source: str) -> str:
    """The task decides which sections exist, so it is read first (an override may set it)."""
    from tailor.tasks import TASKS

    task = raw.get("task")
    for override in overrides:
        key, sep, value = override.partition("=")
        if sep and key.strip() == "task":
            task = value.strip()
    if not task:
        raise ConfigError(f"{source}: task is required (one of: {', '.join(TASKS)}); see `tailor tasks`")
    if not isinstance(task, str) or task not in TASKS:
        raise ConfigError(f"{source}: unknown task '{task}'{_did_you_mean(str(task), TASKS)}; see `tailor tasks`")
    return task


def _check_columns(config: Config, source: str) -> None:
    """A column key the task does not read would be silently ignored: say so instead."""
    from tailor.tasks import task_class

    used = task_class(config.task).columns
    for key in COLUMN_KEYS:
        if key in config.data.model_fields_set and key not in used:
            reads = ", ".join(f"data.{k}" for k in used) or "no column keys"
            raise ConfigError(f"{source}: data.{key} does not apply to task {config.task} (it reads {reads})")


def save_config(config: Config, path: Path) -> None:
    from tailor.io import atomic_write_text

    atomic_write_text(path, yaml.safe_dump(config_to_dict(config), sort_keys=False))


def config_to_dict(config: Config) -> dict:
    """Every key (defaults filled in), except the column keys the task does not read, so the file
    loads back as the same config."""
    from tailor.tasks import task_class

    values = config.model_dump(mode="json")
    used = task_class(config.task).columns
    values["data"] = {k: v for k, v in values["data"].items() if k not in COLUMN_KEYS or k in used}
    return values


def config_schema(task: str | None = None) -> dict:
    """JSON schema of one task's config (shared sections + its own), or of the shared sections."""
    return (config_class(task) if task else Config).model_json_schema()


def _read_yaml(path: Path) -> dict:
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}:{where}: not valid YAML ({getattr(exc, 'problem', exc)})") from exc
    if raw is None:
        raise ConfigError(f"{path}: the config file is empty; it needs at least `task:` and `data: {{train: FILE}}`")
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a config is a mapping of sections (task:, data:, train: ...), got {type(raw).__name__}")
    return raw


def _resolve_paths(raw: dict, base_dir: Path, task: str) -> None:
    for section, key in (*_PATH_FIELDS, *_task_path_fields(task)):
        block = raw.get(section)
        if isinstance(block, dict) and isinstance(block.get(key), str):
            block[key] = os.path.normpath(base_dir / block[key])
    for block in _nested_data_sections(raw, task):
        for key in ("train", "eval", "test"):
            if isinstance(block.get(key), str):
                block[key] = os.path.normpath(base_dir / block[key])
    model = raw.get("model")
    name = model.get("name") if isinstance(model, dict) else model
    if _is_local_folder(name, base_dir):
        resolved = str((base_dir / name).resolve())
        if isinstance(model, dict):
            model["name"] = resolved
        else:
            raw["model"] = resolved
    distill = raw.get("distill")
    if isinstance(distill, dict) and _is_local_folder(distill.get("teacher"), base_dir):
        distill["teacher"] = str((base_dir / distill["teacher"]).resolve())


def _is_local_folder(name, base_dir: Path) -> bool:
    """A model given as a relative folder next to the config; aliases and hub ids stay as they are."""
    return isinstance(name, str) and (name.startswith(".") or (base_dir / name).is_dir())


def _nested_data_sections(raw: dict, task: str) -> list[dict]:
    """Data sections inside the task's own section (multi-task: each head's), as its Options lists them."""
    from tailor.tasks import task_class

    nested = getattr(task_class(task).Options, "nested_data_sections", None)
    return nested(raw.get(section_name(task)) or {}) if nested else []


def _task_path_fields(task: str) -> list[tuple[str, str]]:
    from tailor.tasks import task_class

    options = task_class(task).Options
    return [(section_name(task), name) for name, info in options.model_fields.items() if "Path" in str(info.annotation)]


def _apply_override(raw: dict, override: str) -> None:
    key, sep, text = override.partition("=")
    if not sep or not key:
        raise ConfigError(f"override '{override}': write it as section.key=value, e.g. train.lr=3e-5")
    if key == "task":
        raw["task"] = text.strip()
        return
    sections = set(Config.model_fields) | {section_name(t) for t in _task_names()}
    if "." not in key and key not in sections:
        declared = raw.get("vars") if isinstance(raw.get("vars"), dict) else {}
        if key not in declared:
            raise ConfigError(f"override '{override}': '{key}' is neither a config section nor a variable of "
                              f"this config{_did_you_mean(key, [*Config.model_fields, *declared])}; variables "
                              "for {placeholders} are declared under vars:")
        declared[key] = text  # a placeholder's value is text as given, never YAML-converted
        return
    value = yaml.safe_load(text) if text.strip() else None
    if isinstance(value, str) and _looks_numeric(value):
        value = float(value)  # YAML 1.1 reads "3e-5" as a string
    parts = key.split(".")
    node = raw
    for part in parts[:-1]:
        child = node.get(part)
        if isinstance(child, str) and part == "model":
            child = {"name": child}
        if not isinstance(child, dict):
            child = {}
        node[part] = child
        node = child
    node[parts[-1]] = value


def _task_names() -> list[str]:
    from tailor.tasks import TASKS

    return list(TASKS)


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _check_keys(raw: dict, model: type[BaseModel], prefix: str, source: str, task: str) -> None:
    """Unknown keys are errors with a suggestion, before pydantic's less friendly message; a key that
    moved says where to, and another task's section names the task it belongs to."""
    fields = model.model_fields
    for key, value in raw.items():
        dotted = f"{prefix}{key}"
        if key not in fields:
            if dotted in MOVED_KEYS:
                raise ConfigError(f"{source}: {dotted} has moved to {MOVED_KEYS[dotted]} (the section of the task "
                                  f"that uses it); write it there")
            owner = next((t for t in _task_names() if section_name(t) == key), None) if not prefix else None
            if owner:
                raise ConfigError(f"{source}: section '{key}' holds options of task {owner}, and this config's task "
                                  f"is {task}; remove it (`tailor config schema --task {task}` lists the keys)")
            raise ConfigError(f"{source}: unknown key '{dotted}'{_did_you_mean(key, fields)}")
        annotation = fields[key].annotation
        if isinstance(value, dict) and isinstance(annotation, type) and issubclass(annotation, BaseModel):
            _check_keys(value, annotation, f"{dotted}.", source, task)


def _did_you_mean(word: str, choices) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.5)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"] if not str(part).startswith(("function-", "float", "int")))
    message = error["msg"].removeprefix("Value error, ")
    given = error.get("input")
    shown = "" if isinstance(given, dict) or given is None else f" (got {given!r})"
    return f"{where}: {message}{shown}" if where else f"{message}{shown}"
