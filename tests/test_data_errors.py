"""Every bad input gets one clear line naming file, line/row and field, exit code 2, no traceback."""

import json
import subprocess
import sys

import pytest

from conftest import sentiment_rows, write_csv


@pytest.fixture
def train_with(make_config, tmp_path, cli):
    """Write `train_name` with `content` (bytes or rows), run `tailor train`, return (code, stderr)."""

    def run(train_name: str, content, *, eval_rows=None, **sections):
        path = tmp_path / train_name
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif content is not None:
            write_csv(path, content)
        data = {"train": train_name, **sections.pop("data", {})}
        if eval_rows is not None:
            write_csv(tmp_path / "eval.csv", eval_rows)
        code, out, err = cli("train", make_config(data=data, **sections))
        return code, err.strip()

    return run


def test_missing_file_suggests_a_close_name(train_with, tmp_path):
    write_csv(tmp_path / "train_data.csv", sentiment_rows(10))
    code, err = train_with("train-data.csv", None)
    assert code == 2
    assert err == f"error: {tmp_path / 'train-data.csv'}: file not found. Did you mean {tmp_path / 'train_data.csv'}?"


def test_empty_file(train_with, tmp_path):
    code, err = train_with("train.csv", b"")
    assert (code, err) == (2, f"error: {tmp_path / 'train.csv'}: the file is empty. Give a file with a header and "
                               "at least a few labelled rows")


def test_header_only_file(train_with, tmp_path):
    code, err = train_with("train.csv", b"text,label\n")
    assert code == 2 and err.endswith("train.csv: the file has no data rows. Add labelled examples below the header")


def test_unknown_column_lists_the_present_ones(train_with, tmp_path):
    code, err = train_with("train.csv", sentiment_rows(10), data={"text": "review"})
    assert code == 2
    assert err == (f"error: {tmp_path / 'train.csv'}, field 'review': no such column. The file has columns: text, "
                   "label. Set data.text=<one of them>")


def test_empty_text_names_the_line(train_with, tmp_path):
    rows = sentiment_rows(10)
    rows[4]["text"] = "   "
    code, err = train_with("train.csv", rows)
    assert code == 2
    assert err == (f"error: {tmp_path / 'train.csv'}, line 6, field 'text': the text is empty. Fill it in or remove "
                   "the row (or set data.on_invalid=skip to skip such rows)")


def test_eval_label_never_seen_in_training(train_with, tmp_path):
    eval_rows = sentiment_rows(6)
    eval_rows[3]["label"] = "neutral"
    code, err = train_with("train.csv", sentiment_rows(20), eval_rows=eval_rows)
    assert code == 2
    assert err.startswith(f"error: {tmp_path / 'eval.csv'}, line 5, field 'label': label 'neutral' never appears in "
                          "the training data (known: negative, positive). Add training examples")


def test_only_one_class(train_with, tmp_path):
    rows = [dict(r, label="positive") for r in sentiment_rows(20)]
    code, err = train_with("train.csv", rows, data={"eval": 0.2})
    assert code == 2
    # the whole file's 20 rows: the label set is taken before a fraction is held out
    assert err == (f"error: {tmp_path / 'train.csv'}, field 'label': every one of the 20 rows has the label "
                   "'positive'. A classifier needs at least two classes; check data.label points at the label column")


def test_undecodable_bytes_name_the_encoding_option(train_with, tmp_path):
    content = "text,label\ngood one,positive\ncaf\u00e9 was bad,negative\n".encode("latin-1")
    code, err = train_with("train.csv", content)
    assert code == 2
    assert err == (f"error: {tmp_path / 'train.csv'}, line 3: byte 0xe9 is not valid utf-8. Set data.encoding to the "
                   "file's encoding (e.g. data.encoding=latin-1 or cp1252), or re-save the file as UTF-8")


def test_malformed_json_line(train_with, tmp_path):
    lines = [json.dumps(r) for r in sentiment_rows(5)]
    lines[2] = lines[2][:-1]  # drop the closing brace
    code, err = train_with("train.jsonl", ("\n".join(lines) + "\n").encode())
    assert code == 2
    assert err.startswith(f"error: {tmp_path / 'train.jsonl'}, line 3: malformed JSON (Expecting ',' delimiter")
    assert err.endswith("Each line must be one complete JSON object")


def test_wrong_file_type(train_with, tmp_path):
    code, err = train_with("train.xlsx", b"PK\x03\x04 not really a spreadsheet")
    assert code == 2
    assert err == (f"error: {tmp_path / 'train.xlsx'}: unsupported file type '.xlsx'. Use one of: .csv .tsv .jsonl "
                   ".json .parquet, or a `datasets` folder saved with save_to_disk (from a spreadsheet, export as CSV)")


def test_ragged_csv_row(train_with, tmp_path):
    code, err = train_with("train.csv", b"text,label\nfine,positive\nhello, world,negative\n")
    assert code == 2 and ", line 3: has 3 fields but the header has 2. Quote fields" in err


def test_skipping_invalid_rows_is_counted(make_config, tmp_path, cli):
    rows = sentiment_rows(40)
    rows[3]["text"] = ""
    rows[7]["label"] = ""
    write_csv(tmp_path / "train.csv", rows)
    code, out, err = cli("data", "check", make_config(data={"eval": 0.25}), "data.on_invalid=skip")
    assert code == 0, err
    assert "empty/invalid rows: train 2  eval 0" in out


def test_debug_shows_the_traceback_and_exit_code_is_2_without_it(make_config, tmp_path):
    (tmp_path / "train.csv").write_bytes(b"")
    config = make_config(data={"eval": 0.2})
    plain = subprocess.run([sys.executable, "-m", "tailor.cli", "train", str(config)], capture_output=True, text=True)
    assert plain.returncode == 2 and "Traceback" not in plain.stderr
    assert plain.stderr.strip().splitlines() == [f"error: {tmp_path / 'train.csv'}: the file is empty. Give a file "
                                                 "with a header and at least a few labelled rows"]
    debug = subprocess.run([sys.executable, "-m", "tailor.cli", "train", str(config), "--debug"],
                           capture_output=True, text=True)
    assert debug.returncode != 0 and "Traceback" in debug.stderr and "DataError" in debug.stderr
