"""Token classification end to end on a tiny random BERT: a user's CoNLL file through train, predict,
eval and data check; long sentences split into windows; answers as character spans."""

from __future__ import annotations

import json

import pytest
import yaml

from task_fixtures import ner_sentences, write_conll


@pytest.fixture
def ner_config(tmp_path, tiny_bert, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_conll(tmp_path / "train.conll", ner_sentences(160, seed=1))
    write_conll(tmp_path / "eval.conll", ner_sentences(40, seed=2))

    def make(**sections) -> str:
        config = {"task": "token-classification", "model": str(tiny_bert),
                  "data": {"train": "train.conll", "eval": "eval.conll", "max_length": 32},
                  "train": {"epochs": 8, "batch_size": 16, "lr": 3e-3, "warmup_ratio": 0.0, "precision": "fp32",
                            "freeze_embeddings": False, "early_stopping_patience": None}}
        for section, values in sections.items():
            config[section] = {**config.get(section, {}), **values}
        (tmp_path / "ner.yaml").write_text(yaml.safe_dump(config))
        return "ner.yaml"

    return make


def test_a_conll_file_trains_predicts_and_evaluates(ner_config, cli, tmp_path):
    code, out, err = cli("train", ner_config())
    assert code == 0, err
    assert "train.conll: CoNLL columns, 160 sentences" in err
    run = tmp_path / "runs" / "ner"
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["eval"]["f1"] >= 0.9  # learned; scored by entity, beside the baseline
    assert 0 <= metrics["baseline"]["f1"] <= 1 and metrics["baseline"]["method"] == "most frequent training tag per word"
    assert set(metrics["eval"]["per_type"]) == {"LOC", "PER"}
    assert metrics["data"]["labels"] == ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
    assert "most frequent training tag per word" in out and "fine-tuned" in out
    low, high = metrics["eval"]["ci95"]["f1"]
    assert low <= metrics["eval"]["f1"] <= high and "95% interval (bootstrap)" in out
    assert 0 <= metrics["eval"]["ece"] < 1 and sum(b["rows"] for b in metrics["eval"]["calibration"]) == sum(
        len(line.split()) > 0 for line in (tmp_path / "eval.conll").read_text().splitlines())  # one per word
    page = (run / "report.html").read_text()
    assert "Per entity type" in page and page.count("data:image/png;base64,") == 3  # + the reliability diagram

    text = "Keiko Rossi visited Lima ."
    code, out, err = cli("predict", run, "--text", text)
    assert code == 0, err
    answer = json.loads(out)
    assert answer["text"] == text
    assert [(e["text"], e["label"]) for e in answer["entities"]] == [("Keiko Rossi", "PER"), ("Lima", "LOC")]
    assert all(text[e["start"]:e["end"]] == e["text"] and 0 < e["score"] <= 1 for e in answer["entities"])

    code, _, err = cli("predict", run, "--data", "eval.conll", "--output", "entities.jsonl")
    assert code == 0, err
    answers = [json.loads(line) for line in (tmp_path / "entities.jsonl").read_text().splitlines()]
    assert len(answers) == 40 and all(a["entities"] for a in answers)

    code, out, err = cli("eval", run, "--data", "eval.conll")
    assert code == 0, err
    shown = json.loads(out[: out.index("\n}") + 2])  # the scores, then a line per entity type
    assert shown["f1"] == pytest.approx(metrics["eval"]["f1"]) and shown["examples"] == 40
    assert "LOC" in out and "support" in out


def test_long_sentences_are_split_into_windows_not_cut(ner_config, cli, tmp_path):
    long_sentence = [(word, tag) for s in ner_sentences(12, seed=3) for word, tag in s]  # ~60 words
    write_conll(tmp_path / "train.conll", ner_sentences(60, seed=1) + [long_sentence])
    code, _, err = cli("train", ner_config(train={"epochs": 1}, data={"max_length": 16}))
    assert code == 0, err
    assert "1 of 61 training examples are longer than data.max_length=16 sub-tokens and were split into windows " \
           "of whole words" in err
    # Every word of a long text gets a tag: the answer covers entities beyond the first window.
    text = " ".join(word for word, _ in long_sentence)
    code, out, _ = cli("predict", "runs/ner", "--text", text)
    entities = json.loads(out)["entities"]
    assert all(text[e["start"]:e["end"]] == e["text"] for e in entities)


def test_data_check_counts_entities_and_repairs(ner_config, cli, tmp_path):
    sentences = ner_sentences(30, seed=1)
    sentences[0] = [("Anna", "I-PER"), ("left", "O"), ("Oslo", "B-LOC")]  # an I- with no B- before it
    write_conll(tmp_path / "train.conll", sentences)
    code, out, err = cli("data", "check", ner_config())
    assert code == 0, err
    assert "train: 30 sentences" in out and "PER 30" in out and "LOC 30" in out
    assert "train.conll: 1 tag 'I-PER' with no 'B-PER' before them were read as 'B-PER'" in out
    code, out, err = cli("data", "check", ner_config(token_classification={"invalid_tags": "error"}))
    assert code == 0, err  # the check counts what training would stop at
    assert "train: 1 sentences would stop training (1 with an I- tag with no B- before it)" in out
    code, _, err = cli("train", ner_config(token_classification={"invalid_tags": "error"}))
    assert code == 2 and err.strip() == (f"error: {tmp_path / 'train.conll'}, line 1, field 'tags': 'I-PER' has no "
                                         "'B-PER' before it. Write 'B-PER' where the entity begins "
                                         "(token_classification.invalid_tags=repair reads it as B-PER)")


def test_errors_name_the_file_line_and_field(ner_config, cli, tmp_path):
    (tmp_path / "train.conll").write_text("Anna B-PER\nleft O\nOslo B-LOC extra\n", encoding="utf-8")
    code, _, err = cli("train", ner_config())
    assert code == 2 and "Traceback" not in err
    assert err.startswith(f"error: {tmp_path / 'train.conll'}, line 3")
    write_conll(tmp_path / "train.conll", ner_sentences(20, seed=1))
    write_conll(tmp_path / "eval.conll", [[("Acme", "B-ORG"), ("hired", "O"), ("Anna", "B-PER")]])
    code, _, err = cli("train", ner_config())
    assert code == 2
    assert err.strip() == (f"error: {tmp_path / 'eval.conll'}, line 1, field 'tags': tag 'B-ORG' never appears in the "
                           "training data (its types: LOC, PER). Add training sentences with this type, or map it to "
                           "a known type or to O")
    assert not (tmp_path / "runs").exists()  # nothing is created before the data is known to be good


def test_a_chinese_file_with_one_character_per_line(ner_config, cli, tmp_path):
    rows = [[("张", "B-PER"), ("三", "I-PER"), ("去", "O"), ("北", "B-LOC"), ("京", "I-LOC")],
            [("李", "B-PER"), ("四", "I-PER"), ("在", "O"), ("上", "B-LOC"), ("海", "I-LOC")]] * 20
    write_conll(tmp_path / "train.conll", rows)
    write_conll(tmp_path / "eval.conll", rows[:4])
    code, _, err = cli("train", ner_config(train={"epochs": 1}))
    assert code == 0, err
    code, out, err = cli("predict", "runs/ner", "--data", "eval.conll")
    assert code == 0, err
    answer = json.loads(out.splitlines()[0])
    assert answer["text"] == "张三去北京"  # no spaces invented between characters
    assert all(answer["text"][e["start"]:e["end"]] == e["text"] for e in answer["entities"])


def test_a_type_that_the_held_out_split_takes_entirely_is_still_learned(ner_config, cli, tmp_path):
    """With data.eval a fraction, the tag set comes from the whole file: a rare type that lands only
    in the held-out part is no reason to stop ("never appears in the training data")."""
    sentences = ner_sentences(40, seed=1) + [[("Acme", "B-ORG"), ("hired", "O"), ("Anna", "B-PER")]]
    write_conll(tmp_path / "train.conll", sentences)
    for seed in range(6):  # some split seeds put the only ORG sentence in the held-out part
        code, _, err = cli("train", ner_config(data={"eval": 0.5}, train={"epochs": 1, "seed": seed}), "--overwrite")
        assert code == 0, err
        labels = json.loads((tmp_path / "runs" / "ner" / "metrics.json").read_text())["data"]["labels"]
        assert "B-ORG" in labels
