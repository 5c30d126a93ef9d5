"""Readers for every format give the same examples; the split is stratified; `data check` tells the truth."""

import json

from conftest import sentiment_rows, write_csv
from tailor.config import load_config
from tailor.data.examples import normalize_label
from tailor.data.loading import load_task_data
from tailor.data.readers import read_table
from tailor.tasks import get_task

ROWS = [{"text": "good, \"quoted\"\nand multi-line", "label": 1}, {"text": "bad", "label": 0},
        {"text": "fine", "label": 1}]


def write_all_formats(folder):
    import pandas as pd
    from datasets import Dataset

    write_csv(folder / "d.csv", ROWS)
    frame = pd.DataFrame(ROWS)
    frame.to_csv(folder / "d.tsv", sep="\t", index=False)
    (folder / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    (folder / "d.json").write_text(json.dumps(ROWS))
    frame.to_parquet(folder / "d.parquet")
    Dataset.from_list(ROWS).save_to_disk(str(folder / "d_folder"))
    return ["d.csv", "d.tsv", "d.jsonl", "d.json", "d.parquet", "d_folder"]


def test_every_format_reads_the_same_rows(tmp_path):
    for name in write_all_formats(tmp_path):
        table = read_table(tmp_path / name)
        assert [r["text"] for r in table.rows] == [r["text"] for r in ROWS], name
        assert [normalize_label(r["label"]) for r in table.rows] == ["1", "0", "1"], name
    assert read_table(tmp_path / "d.csv").where == ["line 2", "line 4", "line 5"]  # a quoted line break


def test_labels_compare_as_strings_across_files():
    assert normalize_label(1) == normalize_label(1.0) == normalize_label(" 1 ") == "1"
    assert normalize_label(float("nan")) is None and normalize_label("") is None


def test_stratified_split_is_seeded_and_keeps_proportions(tmp_path):
    rows = [{"text": f"text {i}", "label": "rare" if i % 10 == 0 else "common"} for i in range(200)]
    write_csv(tmp_path / "t.csv", rows)
    (tmp_path / "c.yaml").write_text("task: text-classification\ndata: {train: t.csv, eval: 0.2}\n")
    task = get_task("text-classification")
    first = load_task_data(task, load_config(tmp_path / "c.yaml"))
    again = load_task_data(task, load_config(tmp_path / "c.yaml"))
    assert first.eval.columns["text"] == again.eval.columns["text"]
    assert len(first.eval) == 40 and first.eval.columns["label"].count("rare") == 4
    assert not set(first.eval.columns["text"]) & set(first.train.columns["text"])
    assert first.labels == ["common", "rare"]


def test_data_check_summarises_and_warns(make_config, tmp_path, cli):
    train = sentiment_rows(58) + [{"text": "the film was great", "label": "negative"},
                                  {"text": "the film was great", "label": "positive"}] * 2
    train += [{"text": f"a wonderful day number {i}", "label": "positive"} for i in range(200)]
    write_csv(tmp_path / "train.csv", train)
    write_csv(tmp_path / "eval.csv", sentiment_rows(10) + [{"text": "a wonderful day number 3", "label": "positive"}])
    code, out, err = cli("data", "check", make_config(), "data.max_length=6")
    assert code == 0, err
    assert "rows: train 262  eval 11" in out
    assert "imbalanced classes: 'positive' has 231 examples, 'negative' only 31 (7:1)" in out
    assert "1 texts appear with different labels" in out
    assert "1 evaluation texts also appear in training" in out
    assert "longer than data.max_length=6 tokens" in out


def test_data_check_names_a_model_that_can_read_the_language(make_config, tmp_path, cli):
    reviews = ["这本书写得非常好，值得一读", "质量太差了，完全不推荐", "物流很快，包装也很好", "客服态度恶劣，再也不买了"]
    rows = [{"text": reviews[i % 4] + str(i), "label": "pos" if i % 2 == 0 else "neg"} for i in range(40)]
    write_csv(tmp_path / "train.csv", rows)
    code, out, _ = cli("data", "check", make_config(data={"eval": 0.25}))
    assert code == 0
    assert "cannot read the language; set model: auto (tries the embedded models on a sample, trains the best), or choose a Chinese or " \
        "multilingual encoder such as bert-base-chinese" in out
    assert "mostly Cjk script" in out
