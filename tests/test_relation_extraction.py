"""Relation extraction: the pair found by text or span (and refused clearly), marked for the model,
kept whole when a text is cut, scored as the field reports it, and answered through predict and serve."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from task_fixtures import fast_config, relation_rows, train_tiny_run, write_jsonl
from tailor.data.relations import locate, marked_text
from tailor.tasks.relation_extraction import relation_scores

TEXT = "Anna Berg joined Acme in Oslo, and Acme grew."


def test_entities_are_found_by_text_or_span_and_ambiguity_is_refused_unless_asked():
    assert locate("Anna Berg", TEXT) == (0, 9)
    assert locate([17, 21], TEXT) == locate({"start": 17, "end": 21}, TEXT) == (17, 21)
    with pytest.raises(ValueError, match="'Acme' occurs 2 times in the text: ambiguous"):
        locate("Acme", TEXT)
    assert locate("Acme", TEXT, ambiguous="first") == (17, 21)
    with pytest.raises(ValueError, match="'Bergen' does not occur in the text"):
        locate("Bergen", TEXT)
    with pytest.raises(ValueError, match=r"span \[40, 60\] is outside the text \(45 characters\)"):
        locate([40, 60], TEXT)


def test_typed_markers_surround_the_pair_in_either_order():
    assert marked_text(TEXT, (0, 9), (25, 29), "PER", "LOC") == \
        "@ * PER * Anna Berg @ joined Acme in # ^ LOC ^ Oslo #, and Acme grew."
    assert marked_text(TEXT, (25, 29), (0, 9)) == "# Anna Berg # joined Acme in @ Oslo @, and Acme grew."


def test_relation_scores_leave_no_relation_out():
    # labels: none, works_for, born_in; rows true, columns predicted
    matrix = np.array([[5, 1, 0],    # none: 1 wrongly called works_for (a false positive)
                       [2, 3, 0],    # works_for: 2 missed (predicted none), 3 right
                       [0, 1, 1]])   # born_in: 1 called works_for, 1 right
    scores = relation_scores(matrix, ["none", "works_for", "born_in"], "none")
    # right 4; predicted as a relation 1+3+1+0+1 = 6; true relations 5+2 = 7
    assert scores == pytest.approx({"precision": 4 / 6, "recall": 4 / 7, "f1": 2 * (4 / 6) * (4 / 7) / (4 / 6 + 4 / 7)})


def _config(tmp_path, tiny_bert, rows, **extra) -> dict:
    write_jsonl(tmp_path / "train.jsonl", rows)
    write_jsonl(tmp_path / "eval.jsonl", relation_rows(12, seed=2))
    data = {"train": str(tmp_path / "train.jsonl"), "eval": str(tmp_path / "eval.jsonl"), "max_length": 32}
    config = fast_config(tiny_bert, data, {"relation_extraction": {"classical_baseline": False, **extra}}, max_steps=1)
    return {"task": "relation-extraction", **config, "output": {"dir": str(tmp_path / "run")}}


@pytest.mark.parametrize("row,message", [
    ({"head": "Acme", "text": TEXT}, "line 6, field 'head': 'Acme' occurs 2 times in the text: ambiguous. Give the "
     "mention's character span [start, end] instead of its text, or set relation_extraction.ambiguous=first"),
    ({"tail": "Bergen"}, "line 6, field 'tail': 'Bergen' does not occur in the text. Give the mention's exact text"),
    ({"tail": [0, 4]}, "line 6, field 'tail': the head and the tail overlap. A pair is two separate mentions"),
])
def test_a_bad_pair_is_named_at_its_line(row, message, tmp_path, tiny_bert, cli):
    bad = {**relation_rows(1)[0], "text": TEXT, "head": "Anna Berg", "tail": "Oslo", **row}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(_config(tmp_path, tiny_bert, relation_rows(5) + [bad])))
    code, _, err = cli("train", str(path))
    assert code == 2 and "Traceback" not in err
    assert f"{tmp_path / 'train.jsonl'}, {message}" in err, err


def test_ambiguous_first_and_skipping_are_said(tmp_path, tiny_bert, cli):
    ambiguous = {**relation_rows(1)[0], "text": TEXT, "head": "Acme", "tail": "Oslo"}
    missing = {**relation_rows(1)[0], "tail": "Bergen"}
    path = tmp_path / "config.yaml"
    rows = relation_rows(9) + [ambiguous, missing]
    path.write_text(yaml.safe_dump(_config(tmp_path, tiny_bert, rows, ambiguous="first")))
    code, _, err = cli("train", str(path), "data.on_invalid=skip")
    assert code == 0, err
    assert "skipped 1 row (1 with an entity not in its text in 'tail')" in err


def test_a_long_text_is_cut_around_the_pair_not_at_the_end(tiny_bert):
    from tailor.config import load_config
    from tailor.data.examples import Examples
    from tailor.tasks import get_task

    task = get_task("relation-extraction")
    cfg = load_config(None, base={"task": "relation-extraction", "model": str(tiny_bert), "data": {"train": "x.jsonl"}})
    tokenizer = task.processor(str(tiny_bert), cfg)
    text = "word " * 200 + "Anna works for Acme ." + " word" * 200
    start = text.index("Anna")
    examples = Examples(tiny_bert, {"text": [text], "head": [(start, start + 4)], "tail": [(start + 15, start + 19)],
                                    "head_type": ["PER"], "tail_type": ["ORG"]}, ["line 1"])
    (fitted,), cut = task.fitted_texts(examples, tokenizer, 64)
    assert "@ * PER * Anna @ works for # ^ ORG ^ Acme #" in fitted
    assert len(tokenizer(fitted)["input_ids"]) <= 64 and cut.count == 1
    assert "cut to a window around the pair, both entities kept" in cut.message("examples")


def test_trains_and_answers_through_files_and_the_server(tmp_path, request, cli):
    import httpx

    from test_serve import KEY, running

    run = train_tiny_run("relation-extraction", tmp_path, request, max_steps=3)
    metrics = json.loads((run / "metrics.json").read_text())
    assert {"f1", "precision", "recall", "f1_macro", "per_class"} <= set(metrics["eval"])
    assert {"f1", "precision", "recall"} <= set(metrics["baseline"])
    assert metrics["baseline"]["f1"] == 0.0 or metrics["baseline"]["method"] != "majority class ('no_relation')"
    code, out, err = cli("predict", str(run), "--data", str(tmp_path / "eval.jsonl"))
    assert code == 0, err
    first = json.loads(out.splitlines()[0])
    assert first["text"] == relation_rows(16, seed=2)[0]["text"] and first["label"] in {"works_for", "founded_by",
                                                                                        "no_relation"}
    code, _, err = cli("predict", str(run), "--text", "Anna works for Acme .")
    assert code == 2 and "inputs are more than a text: give a file with --data (columns text, head, tail" in err
    inputs = [{"text": "Anna works for Acme .", "head": "Anna", "tail": [15, 19], "tail_type": "ORG"}]
    with running(run, api_key=KEY) as (url, _):
        headers = {"Authorization": f"Bearer {KEY}"}
        answer = httpx.post(f"{url}/v1/predict", json={"inputs": inputs}, headers=headers)
        bad = httpx.post(f"{url}/v1/predict", json={"inputs": [{"text": "x", "head": "Anna", "tail": "Acme"}]},
                         headers=headers)
        plain = httpx.post(f"{url}/v1/predict", json={"inputs": ["Anna works for Acme ."]}, headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["answers"][0]["label"] in {"works_for", "founded_by", "no_relation"}
    assert bad.status_code == 400 and "input 1, field 'head': 'Anna' does not occur in the text" in bad.json()["error"]["message"]
    assert plain.status_code == 400 and "are objects with the keys text, head, tail" in plain.json()["error"]["message"]
