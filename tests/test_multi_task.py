"""Multi-task: heads on their own files under multi_task.tasks, one shared encoder, the loss weighted by
data size or by the heads' weights, each head answering as a run of its own task (--head)."""

from __future__ import annotations

import json

import pytest
import torch
import yaml

import tailor
from task_fixtures import HEADS, TASK_FIXTURES, fast_config, weights
from tailor.errors import ConfigError


def _config(tmp_path, tiny_bert, heads=None, **sections) -> str:
    """A multi-task config beside the fixture files (paths relative to it, as a user writes them)."""
    data = TASK_FIXTURES["multi-task"].write(tmp_path)
    multi = {**HEADS["multi_task"], **({"tasks": heads} if heads is not None else {})}
    config = {"task": "multi-task", **fast_config(tiny_bert, data, {"multi_task": multi}, epochs=2),
              "output": {"dir": str(tmp_path / "run")}}
    for section, values in sections.items():
        config[section] = {**config.get(section, {}), **values} if isinstance(values, dict) else values
    path = tmp_path / "multi.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


@pytest.fixture
def multi_run(tmp_path_factory, tiny_bert):
    folder = tmp_path_factory.mktemp("multi")
    return tailor.train(_config(folder, tiny_bert)), folder


def test_heads_share_one_encoder_and_answer_as_runs_of_their_tasks(multi_run, tiny_bert):
    result, folder = multi_run
    model = result.dir / "model"
    saved = weights(model)
    # one encoder, stored once, and one output layer per head
    assert sum(k.startswith("embeddings.word_embeddings") for k in saved) == 1
    assert {k.split(".")[1] for k in saved if k.startswith("heads.")} == {"sentiment", "entities", "stars"}
    manifest = json.loads((model / "multi_task.json").read_text())
    assert [(h["name"], h["task"]) for h in manifest["heads"]] == [
        ("sentiment", "text-classification"), ("entities", "token-classification"), ("stars", "text-regression")]
    assert "loading it needs tailor" in (model / "README.md").read_text()  # the card's usage is the task's own
    evaluation = result.metrics["eval"]
    assert {"sentiment/f1_macro", "entities/f1", "stars/rmse"} <= set(evaluation)
    assert evaluation["heads"]["stars"]["rmse"] == evaluation["stars/rmse"]

    stars = tailor.predict(result.dir, texts=["the film was superb", "the meal was awful"], head="stars")
    head_dir = result.dir / "head-stars"
    assert yaml.safe_load((head_dir / "config.yaml").read_text())["task"] == "text-regression"
    # The head is a plain transformers model answering in the data's units (ratings 1100-1500)
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    plain = AutoModelForSequenceClassification.from_pretrained(head_dir / "model")
    tokens = AutoTokenizer.from_pretrained(head_dir / "model")("the film was superb", return_tensors="pt")
    with torch.no_grad():
        assert plain(**tokens).logits[0, 0].item() == pytest.approx(stars[0]["value"], abs=1e-3)
    assert all(1000 < answer["value"] < 1600 for answer in stars)
    # Scores through the head equal the run's own for that head
    scores = tailor.evaluate(result.dir, folder / "ratings_eval.csv", head="stars")
    assert scores["rmse"] == pytest.approx(evaluation["stars/rmse"], rel=1e-5)
    entities = tailor.predict(result.dir, texts=["Anna visited Paris ."], head="entities")[0]
    assert {"text", "entities"} <= set(entities)


def test_head_run_is_reused_and_remade_when_the_model_changes(multi_run):
    result, _ = multi_run
    from tailor.verbs.common import answering_folder

    folder = answering_folder(result.dir, "sentiment")
    made = (folder / "model" / "model.safetensors").stat().st_mtime_ns
    assert answering_folder(result.dir, "sentiment") == folder
    assert (folder / "model" / "model.safetensors").stat().st_mtime_ns == made  # reused
    weights_file = result.dir / "model" / "model.safetensors"
    weights_file.touch()  # as a --resume that saved a newer model
    answering_folder(result.dir, "sentiment")
    assert (folder / "model" / "model.safetensors").stat().st_mtime_ns > made


def test_head_errors_name_the_heads(multi_run, cli, tmp_path, make_config):
    result, _ = multi_run
    code, _, err = cli("predict", str(result.dir), "--text", "hello")
    assert code == 2 and err.strip() == (f"error: {result.dir} is a multi-task run: its heads answer one at a time; "
                                         "add --head NAME (heads: sentiment, entities, stars)")
    code, _, err = cli("predict", str(result.dir), "--text", "hello", "--head", "topic")
    assert code == 2 and err.strip() == f"error: --head topic: {result.dir} has no such head (heads: sentiment, entities, stars)"
    single = tailor.train(make_config(train={"epochs": 1})).dir
    code, _, err = cli("predict", str(single), "--text", "hello", "--head", "topic")
    assert code == 2 and "is a text-classification run, which answers with its one model; --head is for multi-task" in err


def test_export_of_a_head_loads_without_tailor(multi_run, tmp_path):
    result, _ = multi_run
    out = tailor.export(result.dir, tmp_path / "sentiment-hf", head="sentiment")
    from transformers import pipeline

    answer = pipeline("text-classification", model=str(out))("what a lovely day")[0]
    assert answer["label"] in {"positive", "negative"}
    with pytest.raises(ConfigError, match="add --head NAME"):
        tailor.export(result.dir, tmp_path / "all")


def test_report_compares_each_head_with_its_task_alone(tmp_path, tiny_bert):
    path = _config(tmp_path, tiny_bert, heads=HEADS["multi_task"]["tasks"][:2], multi_task={"compare_alone": True})
    result = tailor.train(path)
    for name, task in (("sentiment", "text-classification"), ("entities", "token-classification")):
        alone = json.loads((result.dir / f"alone-{name}" / "metrics.json").read_text())
        assert alone["task"] == task and result.metrics["alone"][name]["eval"] == alone["eval"]
    report = (result.dir / "report.html").read_text()
    assert "Each head against its task trained alone" in report and "<td>entities</td><td>f1 (higher is better)" in report
    # The task alone learned from the same file with the same settings
    alone = yaml.safe_load((result.dir / "alone-sentiment" / "config.yaml").read_text())
    multi = yaml.safe_load((result.dir / "config.yaml").read_text())
    assert alone["train"] == multi["train"] and alone["model"] == multi["model"]
    assert alone["data"]["train"] == multi["multi_task"]["tasks"][0]["data"]["train"]


def test_freeze_trains_only_the_heads(tmp_path, tiny_bert):
    result = tailor.train(_config(tmp_path, tiny_bert, method="freeze"))
    before, after = weights(tiny_bert), weights(result.dir / "model")
    assert all(torch.equal(value, after[key]) for key, value in before.items() if key in after and "pooler" not in key)
    assert result.metrics["train"]["trainable_parameters"] < result.metrics["train"]["total_parameters"] / 10


def test_loss_weights_share_the_loss_and_default_to_data_size():
    from tailor.training.losses import multi_head_loss

    class Heads(torch.nn.Module):  # a class head answering fixed logits, a regression head answering 0
        def __init__(self):
            super().__init__()
            self.bias = torch.nn.Parameter(torch.zeros(1))

        def forward(self, heads, labels=None):
            out = {}
            for name, inputs in heads.items():
                rows = inputs["x"].shape[0]
                logits = torch.zeros(rows, 2) + self.bias if name == "a" else torch.zeros(rows, 1) + self.bias
                out[name] = type("Out", (), {"logits": logits})()
            return out

    batch = {"heads": {"a": {"x": torch.zeros(3), "labels": torch.tensor([0, 1, 0])},
                       "b": {"x": torch.zeros(1), "labels": torch.tensor([3.0])}},
             "labels": torch.zeros(4)}
    ce, squared = torch.log(torch.tensor(2.0)).item(), ((0 - (3.0 - 1.0) / 2.0) ** 2)
    plain, _ = multi_head_loss({"a": ("classes", 1.0, None), "b": ("numbers", 1.0, (1.0, 2.0))})(Heads(), batch)
    assert plain.item() == pytest.approx((3 * ce + squared) / 4)  # every row the same
    weighted, _ = multi_head_loss({"a": ("classes", 2.0, None), "b": ("numbers", 0.5, (1.0, 2.0))})(Heads(), batch)
    assert weighted.item() == pytest.approx((2.0 * 3 * ce + 0.5 * squared) / 4)


def test_weights_become_loss_scales(tmp_path, tiny_bert):
    from tailor.config import load_config
    from tailor.tasks.multi_task import MultiTask

    heads = [dict(h, weight=w) for h, w in zip(HEADS["multi_task"]["tasks"], (1, 1, 2))]
    data = MultiTask().load_data(load_config(_config(tmp_path, tiny_bert, heads=heads)))
    sizes = {name: len(head.data.train) for name, head in data.train.heads.items()}
    total = sum(sizes.values())
    shares = {name: head.scale * sizes[name] / total for name, head in data.train.heads.items()}
    assert shares == pytest.approx({"sentiment": 0.25, "entities": 0.25, "stars": 0.5})


@pytest.mark.parametrize("heads,message", [
    ([], "multi_task.tasks: list the heads: each with name, task (one of text-classification, "
         "token-classification, text-regression) and data: {train: FILE, ...}"),
    ([{"name": "a", "task": "text-classification", "data": {"train": "train.csv"}},
      {"name": "a", "task": "token-classification", "data": {"train": "train.conll"}}],
     "multi_task.tasks: head names must differ; a is used more than once"),
    ([{"name": "a", "task": "text-classification", "data": {}}],
     "multi_task.tasks: head a: data.train is required (the head's training file)"),
    ([{"name": "a", "task": "chat", "data": {"train": "x.jsonl"}}], "multi_task.tasks.0.task: Input should be"),
])
def test_config_errors(tmp_path, tiny_bert, heads, message):
    from tailor.config import load_config

    with pytest.raises(ConfigError) as error:
        load_config(_config(tmp_path, tiny_bert, heads=heads))
    assert message in str(error.value)


def test_a_heads_wrong_key_names_the_head(tmp_path, tiny_bert):
    heads = [{"name": "tags", "task": "token-classification", "data": {"train": "train.conll", "label": "x"}}]
    with pytest.raises(ConfigError) as error:
        tailor.train(_config(tmp_path, tiny_bert, heads=heads))
    assert str(error.value) == ("multi_task.tasks[0] (tags): data.label does not apply to task token-classification "
                                "(it reads data.text, data.tokens, data.tags, data.spans)")
    heads = [dict(HEADS["multi_task"]["tasks"][0], weight=1), HEADS["multi_task"]["tasks"][1]]
    with pytest.raises(ConfigError, match="give every head a weight or none .* entities has none"):
        tailor.train(_config(tmp_path, tiny_bert, heads=heads))
    with pytest.raises(ConfigError, match="method=lora: not for multi-task"):
        tailor.train(_config(tmp_path, tiny_bert, method="lora"))


def test_a_heads_bad_row_names_its_file(tmp_path, tiny_bert):
    path = _config(tmp_path, tiny_bert)
    (tmp_path / "ratings.csv").write_text("text,label\nthe film was good,4\nthe meal was fine,lots\n")
    from tailor.errors import DataError

    with pytest.raises(DataError) as error:
        tailor.train(path)
    assert str(error.value).endswith("ratings.csv, line 3, field 'label': 'lots' is not a number. Put a number there "
                                     "(like 3.5) or remove the row (or set data.on_invalid=skip to skip such rows)")


def test_each_head_is_judged_against_its_own_baselines():
    from types import SimpleNamespace

    from tailor.data.examples import Examples
    from tailor.tasks.multi_task import MultiTask

    def split(texts):
        return Examples(None, {"text": texts, "label": ["a"] * len(texts)}, ["row"] * len(texts))

    train = split(["x", "y"])
    heads = {"mood": SimpleNamespace(data=SimpleNamespace(train=train, train_unsampled=train, eval=split(["y", "z"]),
                                                          test=None))}
    metrics = {"eval": {"mood/f1_macro": 0.4, "heads": {"mood": {"f1_macro": 0.4}}},
               "mood/baseline": {"method": "mood: majority class", "mood/f1_macro": 0.5}}
    assert MultiTask().honesty_warnings(metrics, SimpleNamespace(train=SimpleNamespace(heads=heads))) == [
        "head mood: 1 evaluation examples also appear in the training data: their scores flatter the model; "
        "de-duplicate before splitting",
        "head mood: the fine-tuned model does not beat mood: majority class on the evaluation split: f1_macro "
        "0.4000 against 0.5000; the simpler model is the one to ship"]


def test_a_head_is_served_as_tailor_predict_answers(multi_run):
    import socket
    import threading
    import time

    import httpx

    from tailor.verbs.serve import make_server

    result, _ = multi_run
    texts = ["the hotel was good", "the meal was awful"]
    expected = tailor.predict(result.dir, texts=texts, head="sentiment")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server, state = make_server(result.dir, port=port, log_level="warning", head="sentiment")
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    try:
        while not server.started or state.answerer is None:
            assert time.monotonic() < deadline and state.failed is None, state.failed
            time.sleep(0.05)
        answer = httpx.post(f"http://127.0.0.1:{port}/v1/predict", json={"inputs": texts})
    finally:
        server.should_exit = True
        thread.join(timeout=15)
    assert answer.status_code == 200 and answer.json()["task"] == "text-classification"
    assert answer.json()["answers"] == expected


def test_one_encoder_pass_answers_as_a_pass_per_head(multi_run):
    """Training runs the shared encoder once over every head's rows (padded together); each head's outputs
    are those of its own pass over its own rows."""
    from tailor.models.shared_encoder import load_multi_task_model

    result, _ = multi_run
    model = load_multi_task_model(result.dir / "model")
    torch.manual_seed(0)
    heads = {"sentiment": {"input_ids": torch.randint(1000, 2000, (3, 7)), "attention_mask": torch.ones(3, 7, dtype=torch.long)},
             "entities": {"input_ids": torch.randint(1000, 2000, (2, 11)), "attention_mask": torch.ones(2, 11, dtype=torch.long)}}
    heads["entities"]["attention_mask"][1, 6:] = 0  # a padded row
    with torch.no_grad():
        together = model(heads=heads)
        alone = {name: model(heads={name: inputs})[name] for name, inputs in heads.items()}
    for name in heads:
        assert together[name].logits.shape == alone[name].logits.shape
        torch.testing.assert_close(together[name].logits, alone[name].logits, atol=1e-5, rtol=1e-5)
