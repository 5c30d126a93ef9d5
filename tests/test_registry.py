"""Every registered task and embedded model is complete, listed by the CLI and documented."""

from pathlib import Path
from typing import get_args

import pytest

from tailor.config import ModelSection
from tailor.models.catalog import EMBEDDED
from tailor.tasks import TASKS, get_task

README = (Path(__file__).parents[1] / "README.md").read_text()


@pytest.mark.parametrize("name", sorted(TASKS))
def test_task_implements_the_protocol(name):
    task = get_task(name)
    assert task.name == name
    for method in ("read_inputs", "read_extras", "fit_labels", "build_model", "preprocess", "collator", "final_metrics",
                   "save_model", "load_model", "evaluate", "predict"):
        assert callable(getattr(task, method)), f"{name} lacks {method}"
    # The engine uses the model's own loss and no metrics beyond it unless the task gives them.
    for optional in ("training_metrics", "training_loss"):
        assert getattr(task, optional) is None or callable(getattr(task, optional))
    assert task.defaults["method"] in ("full", "freeze", "lora") and task.pipeline_tag
    kernels = get_args(ModelSection.model_fields["attention"].annotation)  # what model.attention accepts
    assert task.cpu_attention is None or task.cpu_attention in kernels
    assert task.default_model in EMBEDDED and name in EMBEDDED[task.default_model].tasks
    assert f"task: {name}" in README


@pytest.mark.parametrize("alias", sorted(EMBEDDED))
def test_embedded_model_is_installed_and_serves_registered_tasks(alias):
    model = EMBEDDED[alias]
    if model.gguf:  # converted on first use (test_slow covers that); here: the shipped file is there
        import importlib.util

        assert (Path(importlib.util.find_spec(model.package).submodule_search_locations[0]) / model.gguf).is_file()
    else:
        assert (model.path() / "config.json").exists()
    assert set(model.tasks) <= set(TASKS)


def test_cli_lists_the_registry(cli):
    code, out, _ = cli("tasks")
    assert code == 0 and [line.split()[0] for line in out.splitlines()] == list(TASKS)
    code, out, _ = cli("models")
    assert code == 0 and all(f"{alias} " in out for alias in EMBEDDED)
