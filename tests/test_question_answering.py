"""Extractive question answering: SQuAD's nested JSON and flat rows read (and refused clearly), long
contexts read in windows with answers mapped back to the exact characters, the no-answer threshold
tuned and saved, and answers through predict, eval and the server."""

from __future__ import annotations

import json

import pytest
import torch
import yaml

from task_fixtures import fast_config, squad_articles, train_tiny_run, write_jsonl
from tailor.evaluation.extractive import AnswerCollector, windows
from tailor.tasks.question_answering import first_sentence

CONTEXT = ("Run the tool with --max-retries-before-giving-up=5 to retry.\nOtherwise it stops at once.\n"
           + "It logs every step to stderr. " * 30 + "The default port is 8080.")


def _flat_rows() -> list[dict]:
    port = CONTEXT.index("8080")
    return [{"id": "a", "question": "Which flag retries?", "context": CONTEXT,
             "answers": {"text": ["--max-retries-before-giving-up=5"], "answer_start": [18]}},
            {"id": "b", "question": "What is the default port?", "context": CONTEXT,
             "answers": {"text": ["8080"], "answer_start": [port]}},
            {"id": "c", "question": "Who wrote it?", "context": CONTEXT, "answers": {"text": [], "answer_start": []}}]


def _config(tmp_path, tiny_bert, train: str, **extra) -> dict:
    (tmp_path / "eval.json").write_text(json.dumps(squad_articles(8, seed=2)))
    data = {"train": str(tmp_path / train), "eval": str(tmp_path / "eval.json"), "max_length": 48}
    config = fast_config(tiny_bert, data, {"question_answering": {"stride": 16, **extra}}, max_steps=1)
    return {"task": "question-answering", **config, "output": {"dir": str(tmp_path / "run")}}


@pytest.fixture
def qa(tiny_bert):
    from tailor.config import load_config
    from tailor.tasks import get_task

    task = get_task("question-answering")
    cfg = load_config(None, base={"task": "question-answering", "model": str(tiny_bert), "data": {"train": "x.json"}})
    return task, cfg, task.processor(str(tiny_bert), cfg)


def test_nested_squad_flat_rows_and_a_data_wrapper_read_the_same(tmp_path, qa):
    task, cfg, _ = qa
    write_jsonl(tmp_path / "flat.jsonl", _flat_rows())
    (tmp_path / "wrapped.json").write_text(json.dumps({"version": 2.0, "data": _flat_rows()}))
    nested = {"data": [{"title": "t", "paragraphs": [{"context": CONTEXT, "qas": [
        {"id": r["id"], "question": r["question"], "is_impossible": not r["answers"]["text"],
         "answers": [{"text": t, "answer_start": s} for t, s in zip(r["answers"]["text"], r["answers"]["answer_start"])]}
        for r in _flat_rows()]}]}]}
    (tmp_path / "nested.json").write_text(json.dumps(nested))
    read = [task.read(tmp_path / name, cfg) for name in ("flat.jsonl", "wrapped.json", "nested.json")]
    assert read[0].columns == read[1].columns == read[2].columns
    assert read[0].columns["answers"] == [[{"text": "--max-retries-before-giving-up=5", "start": 18}],
                                          [{"text": "8080", "start": CONTEXT.index("8080")}], []]
    assert read[2].where[1] == "article 1, paragraph 1, question 2"


@pytest.mark.parametrize("change,message", [
    ({"answers": {"text": ["8080"], "answer_start": [3]}},
     "line 2, field 'answers': question 'b': answer '8080' is not at character 3 of its context (there: ' the'); "
     f"the text occurs at {CONTEXT.index('8080')}. Correct answer_start"),
    ({"id": "a"}, "line 2, field 'id': id 'a' is used twice (first at line 1). Give every question its own id"),
    ({"context": " "}, "line 2, field 'context': the text is empty"),
])
def test_bad_questions_are_named(change, message, tmp_path, tiny_bert, cli):
    rows = _flat_rows()
    rows[1].update(change)
    write_jsonl(tmp_path / "train.jsonl", rows)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(_config(tmp_path, tiny_bert, "train.jsonl")))
    code, _, err = cli("train", str(path))
    assert code == 2 and "Traceback" not in err
    assert f"{tmp_path / 'train.jsonl'}, {message}" in err, err


def test_a_long_context_is_read_in_windows_and_answers_map_back_to_exact_characters(tmp_path, qa):
    """Put the model's best start and end where training says the answer is: the answer read back is
    the context's exact characters, a flag with dashes and a number after a newline-split context alike."""
    task, cfg, tokenizer = qa
    write_jsonl(tmp_path / "flat.jsonl", _flat_rows())
    examples = task.read(tmp_path / "flat.jsonl", cfg)
    found = windows(tokenizer, examples.columns["question"], examples.columns["context"], 64, 16,
                    examples.columns["answers"])
    assert len(found) > 3 * len(examples)  # the context is several windows long
    collector = AnswerCollector(len(examples))
    for window in range(len(found)):
        start, end = found.columns["start_positions"][window], found.columns["end_positions"][window]
        logits = torch.zeros(2, 1, len(found.offsets[window]))
        logits[0, 0, start] = logits[1, 0, end] = 10.0 if start else 0.0  # a window without the answer: nothing
        collector.add_batch(logits[0], logits[1], [window], found, max_answer_tokens=30)
    best = collector.best_texts(examples.columns["context"])
    assert best[:2] == ["--max-retries-before-giving-up=5", "8080"]
    assert collector.null_margins()[0] == pytest.approx(-20.0)  # the span beats no-answer by 10 + 10


def test_first_sentence_baseline():
    assert first_sentence("It works. Then it stops.") == "It works."
    assert first_sentence("Line one\nline two") == "Line one"


def test_trains_tunes_its_threshold_and_answers_everywhere(tmp_path, request, cli):
    import httpx

    from test_serve import KEY, running

    run = train_tiny_run("question-answering", tmp_path, request, max_steps=3)
    metrics = json.loads((run / "metrics.json").read_text())
    assert {"exact_match", "f1", "has_answer_f1", "no_answer_f1", "null_threshold"} <= set(metrics["eval"])
    assert metrics["baseline"]["method"] == "always unanswerable"
    assert metrics["baseline"]["exact_match"] == pytest.approx(4 / 16)  # every fourth question is unanswerable
    assert "first_sentence_baseline" in metrics and metrics["best_metric_name"] == "loss"
    saved = json.loads((run / "model" / "config.json").read_text())
    assert saved["tailor_null_threshold"] == metrics["decision"]["null_threshold"] == metrics["eval"]["null_threshold"]
    context = "Anna lives in Paris . Omar lives in Lima ."
    code, out, err = cli("predict", str(run), "--question", "Where does Anna live?", "--context", context)
    assert code == 0, err
    answer = json.loads(out)
    assert set(answer) == {"question", "answer", "start", "end", "score"}
    assert answer["answer"] == "" or context[answer["start"]:answer["end"]] == answer["answer"]
    code, out, err = cli("eval", str(run), "--data", str(tmp_path / "eval.json"))
    assert code == 0 and json.loads(out)["exact_match"] == pytest.approx(metrics["eval"]["exact_match"])
    with running(run, api_key=KEY) as (url, _):
        headers = {"Authorization": f"Bearer {KEY}"}
        served = httpx.post(f"{url}/v1/predict", headers=headers,
                            json={"inputs": [{"question": "Where does Anna live?", "context": context}]})
        bad = httpx.post(f"{url}/v1/predict", headers=headers, json={"inputs": [{"question": "Where?"}]})
    assert served.status_code == 200 and served.json()["answers"] == [answer]
    assert bad.status_code == 400 and "input 1 has no context text" in bad.json()["error"]["message"]


def test_data_check_counts_unanswerable_and_long_contexts(tmp_path, tiny_bert, cli):
    write_jsonl(tmp_path / "train.jsonl", _flat_rows())
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(_config(tmp_path, tiny_bert, "train.jsonl")))
    code, out, err = cli("data", "check", str(path))
    assert code == 0, err
    assert "unanswerable: train 1 (33%)  eval 2 (25%)" in out
    assert "3 of 3 longer than one window (data.max_length=48): read in windows overlapping by 16" in out
