"""Every registered task, end to end on a tiny model (as timm tests every model): read -> encode ->
2 training steps -> save -> reload -> predict -> evaluate."""

from __future__ import annotations

import json

import pytest
import yaml

import tailor
from task_fixtures import TASK_FIXTURES, fast_config, weights_changed
from tailor.tasks import TASKS, get_task


def test_every_registered_task_has_a_fixture():
    assert set(TASK_FIXTURES) == set(TASKS)


@pytest.mark.parametrize("name", sorted(TASKS))
def test_task_trains_saves_reloads_predicts_and_evaluates(name, tmp_path, request, monkeypatch):
    fixture = TASK_FIXTURES[name]
    model = request.getfixturevalue(fixture.model)
    monkeypatch.chdir(tmp_path)
    config = {"task": name, **fast_config(model, fixture.write(tmp_path), fixture.config, max_steps=2),
              "eval": {"batch_size": 8, "strategy": "steps", "steps": 2, "bootstrap": 0}}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))

    result = tailor.train(path)
    task = get_task(name)
    metrics = result.metrics
    assert metrics["train"]["steps"] == 2 and metrics["task"] == name
    assert _metric_names(task, fixture) <= set(metrics["eval"])
    assert {"config.yaml", "model", "metrics.json", "history.json", "report.html"} <= {p.name for p in result.dir.iterdir()}
    resolved = yaml.safe_load((result.dir / "config.yaml").read_text())
    assert resolved["eval"]["metric"] == task.metrics[0].name and resolved["train"]["batch_size"] == 4

    assert weights_changed(model, result.dir / "model"), "two training steps changed no saved weight"

    answers = tailor.predict(result.dir, data=tmp_path / fixture.predict_file, head=fixture.head)
    assert len(answers) == fixture.predict_rows
    assert all(fixture.answer_keys <= set(a) for a in answers), answers[0]
    json.dumps(answers)  # plain values: fit for the CLI, files and a server
    scores = tailor.evaluate(result.dir, tmp_path / fixture.predict_file, head=fixture.head)
    answering = get_task(yaml.safe_load((result.dir / f"head-{fixture.head}" / "config.yaml").read_text())["task"]) \
        if fixture.head else task
    assert {m.name for m in answering.metrics} <= set(scores)


def _metric_names(task, fixture) -> set[str]:
    """The task's metrics; for a task of heads, each head's as HEAD/metric (headline ones)."""
    if not fixture.head:
        return {m.name for m in task.metrics}
    return {f"{head['name']}/{m.name}" for head in fixture.config["multi_task"]["tasks"]
            for m in get_task(head["task"]).metrics if m.headline}
