"""Every registered task and embedded model is complete, listed by the CLI and documented."""

from pathlib import Path
from typing import get_args

import pytest

from tailor.config import COLUMN_KEYS, ModelSection, TaskOptions, section_name
from tailor.models.catalog import EMBEDDED
from tailor.tasks import TASKS, get_task
from tailor.tasks.base import HasBaselines, HasDataCheck, HasExtras, HasLabels, HasReportSections, HasSamples, Task

README = (Path(__file__).parents[1] / "README.md").read_text()


PROTOCOL_METHODS = [name for name, value in vars(Task).items() if callable(value) and not name.startswith("_")]
PROTOCOL_ATTRIBUTES = [name for name in Task.__annotations__ if not name.startswith("_")]


@pytest.mark.parametrize("name", sorted(TASKS))
def test_task_implements_the_protocol(name):
    task = get_task(name)
    assert task.name == name
    assert {"read", "encode", "evaluate", "predict"} <= set(PROTOCOL_METHODS)  # read from the protocol itself
    for method in PROTOCOL_METHODS:
        assert callable(getattr(task, method, None)), f"{name} lacks {method}"
    for attribute in PROTOCOL_ATTRIBUTES:
        assert hasattr(task, attribute), f"{name} lacks {attribute}"
    assert task.defaults["method"] in ("full", "freeze", "lora") and task.pipeline_tag
    kernels = get_args(ModelSection.model_fields["attention"].annotation)  # what model.attention accepts
    assert task.cpu_attention is None or task.cpu_attention in kernels
    assert task.default_model in EMBEDDED and name in EMBEDDED[task.default_model].tasks
    assert f"task: {name}" in README
    # Metrics: unique names, a direction each; the first is the default eval.metric.
    names = [m.name for m in task.metrics]
    assert names and len(set(names)) == len(names) and all(isinstance(m.greater_is_better, bool) for m in task.metrics)
    assert set(task.columns) <= set(COLUMN_KEYS)
    assert issubclass(task.Options, TaskOptions) and f"`{section_name(name)}:`" in README or not task.Options.model_fields
    # Optional capabilities are whole: a task has all of a protocol's methods or none of them.
    for capability in (HasLabels, HasBaselines, HasSamples, HasExtras, HasDataCheck, HasReportSections):
        methods = [m for m in vars(capability) if not m.startswith("_") and callable(vars(capability)[m])]
        has = [callable(getattr(task, m, None)) for m in methods]
        assert all(has) or not any(has), f"{name} implements part of {capability.__name__}"


@pytest.mark.parametrize("alias", sorted(EMBEDDED))
def test_embedded_model_is_installed_and_serves_registered_tasks(alias):
    model = EMBEDDED[alias]
    if model.shipped_file:  # converted on first use (test_slow covers that); here: the shipped file is there
        assert model.shipped_path().is_file()
    else:
        assert (model.path() / "config.json").exists()
    assert set(model.tasks) <= set(TASKS)


def test_cli_lists_the_registry(cli):
    code, out, _ = cli("tasks")
    assert code == 0 and [line.split()[0] for line in out.splitlines()[::2]] == list(TASKS)
    assert "learns tags from tokenizer inputs; default model minilm; metrics f1, precision, recall" in out
    code, out, _ = cli("models")
    assert code == 0 and all(f"{alias} " in out for alias in EMBEDDED)
