"""Multi-task: one shared encoder, one head per sub-task (text classification, token classification,
text regression), each head with its own data files and columns.

A head is its task, run as that task runs alone: its config is the run's config with the head's
`data` and `options` in place of the run's (`head_configs`), so reading, encoding, evaluation,
baselines and the data check are the sub-task's own, called with the head's model (a plain
transformers model whose encoder is the shared one: models/shared_encoder.py). This module only
mixes them: batches hold rows of several heads (each head's rows padded and run on their own), and
the loss is

    sum over the step's rows of  a_head * (that row's loss) / rows in the step,

a row's loss being its task's (cross-entropy of its class, mean cross-entropy of its tagged words,
squared error of its standardised number). With a_head = 1 every example weighs the same, which
makes each head's share of the loss its share of the training examples: the default. A head's
`weight` sets its share instead (weights are normalised to sum to 1): a_head = share / data share.

The run's model/ holds every head (loading it needs tailor); `tailor predict|eval|export|serve RUN
--head NAME` use one head, made a run folder of its own task on first use (RUN/head-NAME/), so every
verb and export format of that task applies to it unchanged. With multi_task.compare_alone each head's
task is also trained alone on its data (RUN/alone-NAME/), and the report puts the two side by side.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field as Option, field_validator

from tailor.config import Config, Section, TaskOptions
from tailor.console import say
from tailor.data.loading import TaskData
from tailor.errors import ConfigError
from tailor.tasks.base import Encoded, Metric, TokenizedText
from tailor.tasks.text_classification import TextClassification

SUB_TASKS = ("text-classification", "token-classification", "text-regression")


class HeadEntry(Section):
    name: str = Option(pattern=r"^[A-Za-z][A-Za-z0-9_]*$", description="the head's name (letters, digits, _): "
                       "`--head NAME`, and its metrics' prefix NAME/metric")
    task: Literal["text-classification", "token-classification", "text-regression"] = Option(
        description="what this head learns")
    data: dict[str, Any] = Option(default_factory=dict, description="this head's data section: train (required), "
                                  "eval, test, its columns (text, label, tokens, tags ...); other data keys "
                                  "default to the run's data section")
    weight: float | None = Option(None, gt=0, description="this head's share of the loss (the weights are "
                                  "normalised to sum to 1); default: its share of the training examples")
    options: dict[str, Any] = Option(default_factory=dict, description="options of this head's task (its own "
                                     "section, e.g. text_classification's classical_baseline)")


class MultiTaskOptions(TaskOptions):
    tasks: list[HeadEntry] = Option(default_factory=list, description="the heads: each a task on its own data")
    compare_alone: bool = Option(True, description="also train each head's task alone on its data (same model and "
                                                   "settings) and compare them in the report")

    @field_validator("tasks")
    @classmethod
    def _named_once(cls, entries: list[HeadEntry]) -> list[HeadEntry]:
        if not entries:
            raise ValueError("list the heads: each with name, task (one of " + ", ".join(SUB_TASKS) +
                             ") and data: {train: FILE, ...}")
        names = [entry.name for entry in entries]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(f"head names must differ; {', '.join(twice)} is used more than once")
        for entry in entries:
            if not entry.data.get("train"):
                raise ValueError(f"head {entry.name}: data.train is required (the head's training file)")
        return entries

    @staticmethod
    def nested_data_sections(section: dict) -> list[dict]:
        """The heads' data sections in a raw config: their paths are relative to the config file too."""
        entries = section.get("tasks") if isinstance(section, dict) else None
        return [e["data"] for e in entries or [] if isinstance(e, dict) and isinstance(e.get("data"), dict)]


@dataclass
class Head:
    """One head: its task, its own config (the run's, with the head's data and options) and, once read,
    its data; `scale`: a_head of the loss (module docstring)."""

    name: str
    task: Any
    cfg: Config
    data: TaskData | None = None
    scale: float = 1.0


class HeadExamples:
    """One split of every head's examples (name -> Examples): what the verbs hand the task as a split."""

    def __init__(self, parts: dict, heads: dict[str, Head]):
        self.parts, self.heads = parts, heads
        self.columns: dict = {}  # no columns of its own (honesty's overlap check looks at each head instead)

    def __len__(self) -> int:
        return sum(len(part) for part in self.parts.values())


class MultiTask(TokenizedText):
    name: ClassVar[str] = "multi-task"
    summary: ClassVar[str] = ("one encoder, a head per task (text classification, token classification, "
                              "regression), each on its own data")
    default_model: ClassVar[str] = "minilm"
    Options: ClassVar = MultiTaskOptions
    # The evaluation loss picks the checkpoint; each head reports its task's metrics as NAME/metric.
    metrics: ClassVar = (Metric("loss", greater_is_better=False, headline=False),)
    targets: ClassVar[str] = "heads"
    processor_kind: ClassVar[str] = "tokenizer"
    columns: ClassVar = ()  # each head's columns are under its own data: section
    pipeline_tag: ClassVar[str] = "multi-task"
    pipeline_input: ClassVar[str] = '"your text here"'
    peft_task_type: ClassVar[None] = None
    export_formats: ClassVar[tuple[str, ...]] = ()  # per head: `tailor export RUN --head NAME`
    lora_head: ClassVar[tuple] = ()
    # The heads read texts with one encoder, as text classification does: its measured batching, rate,
    # dropout, epochs and attention kernel (every head's config is the run's: a head alone trains the same).
    defaults: ClassVar[dict] = TextClassification.defaults
    stratify_by: ClassVar[None] = None
    lr_reference_rows: ClassVar[int] = TextClassification.lr_reference_rows
    cpu_attention: ClassVar[str] = TextClassification.cpu_attention
    cpu_precision: ClassVar[None] = None

    # -- data ------------------------------------------------------------------------------------
    def read(self, path: Path, cfg: Config, *, targets: bool = True, split: str = "train"):
        raise ConfigError("a multi-task run reads each head's files from multi_task.tasks; to answer or score "
                          "one head, name it with --head NAME")

    def load_data(self, cfg: Config) -> TaskData:
        """Every head's data, read and checked as its task reads it alone (errors name the file and row)."""
        from tailor.data.loading import load_task_data

        heads = self.heads(cfg)
        notes, info = [], []
        for head in heads.values():
            head.data = load_task_data(head.task, head.cfg)
            notes += [f"head {head.name}: {note}" for note in head.data.notes]
            info += [f"head {head.name}: {line}" for line in head.data.info]
        _set_loss_scales(heads, cfg)
        split = lambda which: HeadExamples({n: getattr(h.data, which) for n, h in heads.items()}, heads)  # noqa: E731
        tests = {n: h.data.test for n, h in heads.items() if h.data.test is not None}
        sources = "; ".join(f"{n}: {h.data.eval_source}" for n, h in heads.items())
        return TaskData(split("train"), split("eval"), [], sources, notes, info=info,
                        test=HeadExamples(tests, heads) if tests else None)

    def heads(self, cfg: Config) -> dict[str, Head]:
        """Each head with its own config (not yet its data)."""
        from tailor.tasks import get_task

        return {name: Head(name, get_task(head_cfg.task), head_cfg) for name, head_cfg in head_configs(cfg).items()}

    # -- model -----------------------------------------------------------------------------------
    def build_model(self, location: str, cfg: Config, data: TaskData, **load_kwargs):
        from tailor.models.shared_encoder import MultiTaskModel

        if cfg.method == "lora":
            raise ConfigError("method=lora: not for multi-task (its heads would each need the adapter); use "
                              "method full or freeze")
        heads = data.train.heads
        built = {name: head.task.build_model(location, head.cfg, head.data, **load_kwargs) for name, head in heads.items()}
        return MultiTaskModel(built, {name: head.task.name for name, head in heads.items()})

    def encode(self, examples: HeadExamples, tokenizer, cfg: Config, labels, *, training: bool = False) -> Encoded:
        """Each head's rows encoded by its task; one dataset of them all, each row tagged with its head."""
        encoded = {name: examples.heads[name].task.encode(part, tokenizer, examples.heads[name].cfg,
                                                          examples.heads[name].data.labels if labels is not None else None,
                                                          training=training)
                   for name, part in examples.parts.items()}
        rows = HeadRows(encoded)
        return Encoded(rows, [n for e in encoded.values() for n in e.lengths], HeadFits(encoded))

    def collator(self, tokenizer, cfg: Config):
        return HeadBatches({name: head.task.collator(tokenizer, head.cfg) for name, head in self.heads(cfg).items()})

    def loss(self, cfg: Config, data: TaskData):
        from tailor.training.losses import multi_head_loss

        heads = data.train.heads
        return multi_head_loss({name: (head.task.targets, head.scale, _target_scale(head))
                                for name, head in heads.items()})

    def training_metrics(self, cfg: Config, labels):
        return None  # the evaluation loss (every head's, weighted as in training) picks the checkpoint

    def finish_saved_model(self, folder: Path, model, processor, rebuild) -> None:
        """model/: the weights, each head's config and the manifest; a regression head's target scale folded
        into its output layer, as its task does alone, so every head answers in its data's units."""
        from tailor.models.shared_encoder import load_multi_task_model, save_manifest, save_weights
        from tailor.tasks import get_task
        from tailor.tasks.base import HasOutputScale

        save_manifest(model, folder)
        saved = load_multi_task_model(folder)
        for name, head in saved.heads.items():
            task = get_task(saved.tasks[name])
            if isinstance(task, HasOutputScale):
                task.to_user_units(head)
        save_weights(saved, folder)

    def load_model(self, folder: Path, **load_kwargs):
        from tailor.models.shared_encoder import load_multi_task_model

        return load_multi_task_model(folder)

    # -- answers ---------------------------------------------------------------------------------
    def evaluate(self, model, tokenizer, examples: HeadExamples, cfg: Config, batch_size: int) -> dict:
        """Each head's metrics (its task's) under `heads`, and its headline metrics as NAME/metric."""
        scores = {name: examples.heads[name].task.evaluate(model.heads[name], tokenizer, part,
                                                            examples.heads[name].cfg, batch_size)
                  for name, part in examples.parts.items()}
        flat = {f"{name}/{metric.name}": scores[name][metric.name] for name in scores
                for metric in examples.heads[name].task.metrics if metric.headline and metric.name in scores[name]}
        intervals = {f"{name}/{key}": value for name in scores for key, value in (scores[name].get("ci95") or {}).items()
                     if f"{name}/{key}" in flat}
        return {**flat, **({"ci95": intervals} if intervals else {}), "heads": scores, "examples": len(examples)}

    def predict(self, model, tokenizer, examples, cfg: Config, batch_size: int) -> list[dict]:
        raise ConfigError("a multi-task run answers one head at a time: name it with --head NAME")

    def baselines(self, model, tokenizer, data: TaskData, cfg: Config, base_location: str) -> dict:
        """Each head's baselines (its task's), as NAME/metric rows of the comparison table."""
        from tailor.tasks.base import HasBaselines

        result = {}
        for name, head in data.train.heads.items():
            if not isinstance(head.task, HasBaselines):
                continue
            own = head.task.baselines(model.heads[name], tokenizer, head.data, head.cfg, base_location)
            for key, scores in own.items():
                result[f"{name}/{key}"] = {**_prefixed(name, scores), "method": f"{name}: {scores.get('method', key)}"}
        return result

    def check(self, data: TaskData, tokenizer, cfg: Config) -> dict:
        """Each head's data check (its task's), one after the other."""
        from tailor.tasks.base import HasDataCheck

        lines, warnings = [], []
        for name, head in data.train.heads.items():
            if isinstance(head.task, HasDataCheck):
                report = head.task.check(head.data, tokenizer, head.cfg)
                lines += [f"head {name} ({head.task.name}):"] + [f"  {line}" for line in report["lines"]]
                warnings += [f"head {name}: {w}" for w in report["warnings"]]
        return {"lines": lines, "warnings": warnings}

    # -- each head alone -------------------------------------------------------------------------
    def train_alone(self, cfg: Config, data: TaskData, run) -> dict | None:
        """multi_task.compare_alone: each head's task trained alone on the head's data, with the same model
        and settings, into RUN/alone-NAME/ (every process takes part); the scores of each, for metrics.json."""
        from tailor.runs import ALONE_PREFIX, RunDir
        from tailor.verbs.train import train_on

        if not cfg.options.compare_alone:
            return None
        scores = {}
        for name, head in data.train.heads.items():
            alone = head.cfg.model_copy(deep=True)
            alone.output.dir = run.dir / f"{ALONE_PREFIX}{name}"
            alone.eval.explain_examples = 0
            say(f"training head {name}'s task ({head.task.name}) alone for the comparison (multi_task.compare_alone) "
                f"into {alone.output.dir} ...")
            result = train_on(head.task, alone, head.data, RunDir(alone.output.dir), overwrite=True)
            scores[name] = {key: result.metrics[key] for key in ("eval", "test") if key in result.metrics}
        return scores

    # -- one head as a run of its task ------------------------------------------------------------
    def head_run(self, cfg: Config, run, name: str) -> Path:
        """RUN/head-NAME/: the head as a run folder of its own task (config.yaml, model/ with the shared
        encoder inside: plain transformers), so every verb and export of that task works on it. Made on
        first use, and again when the run's model is newer."""
        from tailor.runs import HEAD_PREFIX, save_folder_atomically

        configs = head_configs(cfg)
        if name not in configs:
            raise ConfigError(f"--head {name}: {run.dir} has no such head (heads: {', '.join(configs)})")
        folder = run.dir / f"{HEAD_PREFIX}{name}"
        weights = folder / "model" / "model.safetensors"
        if weights.is_file() and weights.stat().st_mtime >= (run.model / "model.safetensors").stat().st_mtime:
            return folder
        head_cfg = configs[name]
        head_cfg.output.dir = folder.resolve()
        say(f"writing head {name} of {run.dir} as a {head_cfg.task} run: {folder} ...")
        save_folder_atomically(folder, lambda tmp: _write_head_run(run, name, head_cfg, self, tmp))
        return folder

    def report_sections(self, metrics: dict) -> list[tuple[str, str]]:
        from tailor.evaluation.report import heads_section
        from tailor.tasks import get_task

        lower = {m.name for task in SUB_TASKS for m in get_task(task).metrics if not m.greater_is_better}
        return [("Each head against its task trained alone", heads_section(metrics, lower))]

    def honesty_warnings(self, metrics: dict, data: TaskData) -> list[str]:
        """Each head judged as a run of its task is (evaluation/honesty.py), against its own baselines and on
        its own splits; each warning says which head."""
        from tailor.evaluation.honesty import honesty_warnings, split_overlaps

        warnings = []
        for name, head in data.train.heads.items():
            own = {"eval": metrics["eval"]["heads"][name]}
            if name in (metrics.get("test") or {}).get("heads", {}):
                own["test"] = metrics["test"]["heads"][name]
            for key, scores in metrics.items():
                if key.startswith(f"{name}/") and key.endswith("baseline") and isinstance(scores, dict):
                    own[key.split("/", 1)[1]] = _unprefixed(name, scores)
            warnings += [f"head {name}: {w}" for w in honesty_warnings(own, split_overlaps(head.data))]
        return warnings

    def usage(self) -> str:
        return ("# every head in one folder: loading it needs tailor (each head alone loads with transformers:\n"
                "# `tailor export RUN --head NAME --out DIR` writes one as a standalone model)\n"
                "from tailor.api import predict\nprint(predict(\"path/to/the/run\", texts=[\"your text here\"], "
                "head=\"NAME\"))")


def head_configs(cfg: Config) -> dict[str, Config]:
    """Each head's own config: the run's model, method, train, eval and output settings as resolved, the
    head's task and options, and the run's data keys overlaid with the head's (its files and columns)."""
    from tailor.config import COLUMN_KEYS, load_config, section_name
    from tailor.tasks import get_task, resolve_config

    shared = cfg.model_dump(mode="json", exclude={"task", "data", "vars", section_name(cfg.task)})
    shared["eval"]["metric"] = None  # the head's task's own default
    data = cfg.data.model_dump(mode="json", exclude={"train", "test", *COLUMN_KEYS})
    configs = {}
    for index, entry in enumerate(cfg.options.tasks):
        raw = {**shared, "task": entry.task, "data": {**data, **entry.data}, "vars": dict(cfg.vars),
               section_name(entry.task): dict(entry.options)}
        try:
            configs[entry.name] = resolve_config(load_config(None, base=raw), get_task(entry.task))
        except ConfigError as exc:
            raise ConfigError(f"multi_task.tasks[{index}] ({entry.name}): {str(exc).removeprefix('config: ')}") from exc
    return configs


def _write_head_run(run, name: str, head_cfg: Config, task: MultiTask, folder: Path) -> None:
    import json

    from tailor.config import save_config
    from tailor.io import atomic_write_json
    from tailor.models.shared_encoder import standalone_head

    import transformers

    transformers.utils.logging.disable_progress_bar()  # a "Writing model shards" bar for one small file
    head = standalone_head(task.load_model(run.model), name)
    head.save_pretrained(folder / "model")
    task.processor(str(run.model), head_cfg).save_pretrained(folder / "model")
    save_config(head_cfg, folder / "config.yaml")
    if run.metrics.is_file():  # the head's part of the run's scores, as its task's run would have them
        metrics = json.loads(run.metrics.read_text(encoding="utf-8"))
        part = {"name": folder.name, "task": head_cfg.task, "model": metrics.get("model"), "head_of": str(run.dir)}
        for split in ("eval", "test"):
            if split in metrics and name in metrics[split].get("heads", {}):
                part[split] = metrics[split]["heads"][name]
        atomic_write_json(folder / "metrics.json", part)


def _unprefixed(name: str, scores: dict) -> dict:
    """A head's baseline scores under its task's own metric names (its data.test scores too): _prefixed undone."""
    return {key.removeprefix(f"{name}/"): _unprefixed(name, value) if key == "test" and isinstance(value, dict)
            else value for key, value in scores.items()}


def _set_loss_scales(heads: dict[str, Head], cfg: Config) -> None:
    """a_head of the loss: 1 where no weight is given (each example the same); else share / data share."""
    entries = {entry.name: entry for entry in cfg.options.tasks}
    sizes = {name: len(head.data.train) for name, head in heads.items()}
    total = sum(sizes.values())
    given = {name: entries[name].weight for name in heads if entries[name].weight is not None}
    if not given:
        return
    if len(given) < len(heads):
        missing = ", ".join(name for name in heads if name not in given)
        raise ConfigError(f"multi_task.tasks: give every head a weight or none (a weight is a share of the loss; "
                          f"{missing} has none)")
    weights = sum(given.values())
    for name, head in heads.items():
        head.scale = (given[name] / weights) / (sizes[name] / total)


def _target_scale(head: Head):
    """(mean, std) of a regression head's training targets, which its loss standardises by; else None."""
    if head.task.targets != "numbers":
        return None
    from tailor.evaluation.regression import target_scale

    return target_scale(head.data.train.columns["label"])


def _prefixed(name: str, scores: dict) -> dict:
    """A baseline's scores with the head's metric names as NAME/metric, in its intervals and its data.test
    scores too (the other keys as they are)."""
    renamed = {}
    for key, value in scores.items():
        if isinstance(value, float):
            renamed[f"{name}/{key}"] = value
        elif key == "ci95":
            renamed[key] = {f"{name}/{metric}": interval for metric, interval in value.items()}
        elif key == "test" and isinstance(value, dict):
            renamed[key] = _prefixed(name, value)
        else:
            renamed[key] = value
    return renamed


class HeadRows:
    """The rows of every head's encoded dataset, each with its head's name; `select` as datasets' (the
    engine orders the evaluation rows by length)."""

    def __init__(self, encoded: dict[str, Encoded], order: list[tuple[str, int]] | None = None):
        self.encoded = encoded
        self.order = order if order is not None else [(name, i) for name, e in encoded.items()
                                                      for i in range(len(e.lengths))]

    def __len__(self) -> int:
        return len(self.order)

    def __getitem__(self, index: int) -> dict:
        name, row = self.order[index]
        return {"head": name, **self.encoded[name].dataset[row]}

    def select(self, indices) -> "HeadRows":
        return HeadRows(self.encoded, [self.order[i] for i in indices])


class HeadFits:
    """What did not fit, over every head (train verb: `count`, `message`, `info`)."""

    def __init__(self, encoded: dict[str, Encoded]):
        self.fits = {name: e.fit for name, e in encoded.items()}
        self.count = sum(fit.count for fit in self.fits.values())

    def message(self, what: str) -> str | None:
        lines = [f"head {name}: {m}" for name, fit in self.fits.items() if (m := fit.message(what))]
        return "; ".join(lines) or None

    def info(self, what: str) -> str | None:
        lines = [f"head {name}: {m}" for name, fit in self.fits.items() if hasattr(fit, "info") and (m := fit.info(what))]
        return "; ".join(lines) or None


class HeadBatches:
    """A batch of rows of several heads: each head's rows batched by its task's collator (padded to their own
    longest row), under `heads`; `labels` is one entry per row, which the trainer counts (over every process
    and accumulation step) for the loss to divide by."""

    def __init__(self, collators: dict):
        self.collators = collators

    def __call__(self, features: list[dict]) -> dict:
        import torch

        groups: dict[str, list[dict]] = {}
        for feature in features:
            row = dict(feature)
            groups.setdefault(row.pop("head"), []).append(row)
        return {"heads": {name: self.collators[name](rows) for name, rows in groups.items()},
                "labels": torch.zeros(len(features), dtype=torch.long)}
