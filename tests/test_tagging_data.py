"""Token classification data: CoNLL columns, token/tag lists and text spans -> tokens, offsets, text, BIO tags."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tailor.data.tagging import looks_like_conll, read_tagged
from tailor.data.tags import (bio_labels, detect_scheme, entities_from_tags, split_words, tag_types, to_bio,
                              tokens_to_text)
from tailor.errors import DataError

CONLL_2COL = "EU B-ORG\nrejects O\nGerman B-MISC\ncall O\n\nPeter B-PER\nBlackburn I-PER\n"
CONLL_4COL = ("-DOCSTART- -X- -X- O\n\n"
              "EU NNP B-NP B-ORG\nrejects VBZ B-VP O\nGerman JJ B-NP B-MISC\n\n"
              "Peter NNP B-NP B-PER\nBlackburn NNP I-NP I-PER\n\n")


def write(tmp_path: Path, name: str, content: str) -> Path:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return path


def write_jsonl(tmp_path: Path, name: str, rows: list[dict]) -> Path:
    return write(tmp_path, name, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))


def assert_offsets_hold(examples) -> None:
    for tokens, offsets, text in zip(*(examples.columns[k] for k in ("tokens", "offsets", "text"))):
        assert [text[start:end] for start, end in offsets] == tokens


# --- CoNLL ---------------------------------------------------------------------------------------

def test_conll_two_columns(tmp_path):
    examples = read_tagged(write(tmp_path, "train.conll", CONLL_2COL))
    assert examples.columns["tokens"] == [["EU", "rejects", "German", "call"], ["Peter", "Blackburn"]]
    assert examples.columns["tags"] == [["B-ORG", "O", "B-MISC", "O"], ["B-PER", "I-PER"]]
    assert examples.columns["text"] == ["EU rejects German call", "Peter Blackburn"]
    assert examples.columns["offsets"][1] == [(0, 5), (6, 15)]
    assert examples.where == ["line 1", "line 6"]
    assert examples.notes == ["train.conll: CoNLL columns, 2 sentences, 6 tokens, tags BIO, types MISC, ORG, PER"]
    assert examples.warnings == [] and not examples.skipped


def test_conll_four_columns_with_docstart(tmp_path):
    examples = read_tagged(write(tmp_path, "train.conll", CONLL_4COL))
    assert examples.columns["tokens"] == [["EU", "rejects", "German"], ["Peter", "Blackburn"]]
    assert examples.columns["tags"] == [["B-ORG", "O", "B-MISC"], ["B-PER", "I-PER"]]
    assert examples.where == ["line 3", "line 7"]


def test_tabs_a_tab_only_separator_no_final_newline_and_curly_quotes(tmp_path):
    path = write(tmp_path, "ner.iob", "“\tO\nNew York\tB-LOC\n”\tO\n\t\nn’t\tO\nThrun\tB-PERSON")
    examples = read_tagged(path)
    assert examples.columns["tokens"] == [["“", "New York", "”"], ["n’t", "Thrun"]]
    assert examples.columns["tags"] == [["O", "B-LOC", "O"], ["O", "B-PERSON"]]
    assert_offsets_hold(examples)


@pytest.mark.parametrize("name", ["train.txt", "train", "train.bio", "train.tsv"])
def test_conll_is_recognised_by_content_whatever_the_extension(tmp_path, name):
    path = write(tmp_path, name, CONLL_2COL)
    assert looks_like_conll(path)
    assert read_tagged(path).columns["tags"][1] == ["B-PER", "I-PER"]


def test_tables_and_json_rows_are_not_conll(tmp_path):
    assert not looks_like_conll(write(tmp_path, "a.tsv", "text\tlabel\ngreat film\tpositive\n"))
    assert not looks_like_conll(write(tmp_path, "a.jsonl", '{"tokens": ["a"], "tags": ["O"]}\n'))


def test_comment_lines_and_a_numbered_token_column_germeval_style(tmp_path):
    path = write(tmp_path, "NER-de-train.tsv", "#\tn-tv.de vom 26.02.2005\t[2005-02-26]\n"
                 "1\tSchartau\tB-PER\tB-PER\n2\tsagte\tO\tO\n3\t#\tO\tO\n\n"
                 "# sent_id = 2\n1\tFischer\tB-PER\tB-PER\n")
    examples = read_tagged(path)
    assert examples.columns["tokens"] == [["Schartau", "sagte", "#"], ["Fischer"]]
    assert examples.where == ["line 2", "line 7"]
    assert examples.notes[0].startswith("NER-de-train.tsv: CoNLL columns (the first numbers the tokens), 2 sentences")


def test_a_hash_token_with_a_tag_is_a_token_not_a_comment(tmp_path):
    examples = read_tagged(write(tmp_path, "a.conll", "# O\nfun O\n\n# comment here\nok O\n"))
    assert examples.columns["tokens"] == [["#", "fun"], ["ok"]]


def test_a_line_with_another_column_count_is_an_error(tmp_path):
    path = write(tmp_path, "train.conll", "EU NNP B-ORG\nrejects O\n")
    with pytest.raises(DataError) as caught:
        read_tagged(path)
    assert str(caught.value) == (f"{path}, line 2: has 2 columns where the first token line (line 1) has 3. Give "
                                 "every token line the same columns with the tag last, and a blank line between "
                                 "sentences (a token containing a space needs tab-separated columns)")


def test_a_tag_that_is_not_prefix_type_is_an_error(tmp_path):
    path = write(tmp_path, "train.conll", "Peter B-PER\nBlackburn B_PER\n")
    with pytest.raises(DataError, match=r"train.conll, line 2, field 'tags': 'B_PER' is not a tag. Write tags as O"):
        read_tagged(path)


def test_without_targets_the_tag_column_is_ignored_and_one_column_files_work(tmp_path):
    examples = read_tagged(write(tmp_path, "test.conll", CONLL_4COL), with_targets=False)
    assert set(examples.columns) == {"tokens", "offsets", "text"}
    assert examples.columns["text"] == ["EU rejects German", "Peter Blackburn"]
    one_column = read_tagged(write(tmp_path, "new.txt", "Angela\nMerkel\n\nBerlin\n"), with_targets=False)
    assert one_column.columns["tokens"] == [["Angela", "Merkel"], ["Berlin"]]
    with pytest.raises(DataError, match="has one column, so no tags"):
        read_tagged(tmp_path / "new.txt")


def test_chinese_one_character_per_line_gives_text_without_spaces(tmp_path):
    examples = read_tagged(write(tmp_path, "zh.txt", "我 O\n爱 O\n北 B-LOC\n京 I-LOC\n。 O\n\n"))
    assert examples.columns["text"] == ["我爱北京。"]
    assert_offsets_hold(examples)
    entities = entities_from_tags(examples.columns["tags"][0], examples.columns["offsets"][0], "我爱北京。")
    assert entities == [{"start": 2, "end": 4, "text": "北京", "label": "LOC"}]


def test_tokens_to_text_keeps_spaces_around_latin_tokens():
    text, offsets = tokens_to_text(["在", "2008", "年", "去", "北", "京"])
    assert text == "在 2008 年去北京" and offsets[1] == (2, 6)


# --- tag schemes ---------------------------------------------------------------------------------

@pytest.mark.parametrize("tags, scheme, bio", [
    (["B-PER", "E-PER", "O", "S-LOC"], "BIOES", ["B-PER", "I-PER", "O", "B-LOC"]),
    (["U-LOC", "B-PER", "L-PER"], "BILOU", ["B-LOC", "B-PER", "I-PER"]),
    (["I-PER", "I-PER", "O", "I-LOC", "I-ORG"], "IO", ["B-PER", "I-PER", "O", "B-LOC", "B-ORG"]),
    (["I-PER", "I-PER", "B-PER", "O", "I-LOC"], "IOB1", ["B-PER", "I-PER", "B-PER", "O", "B-LOC"]),
    (["B-PER", "I-PER", "O", "S-LOC"], "BIO with S- tags", ["B-PER", "I-PER", "O", "B-LOC"]),
    (["O", "O"], "O only", ["O", "O"]),
])
def test_schemes_are_detected_and_read_as_bio(tmp_path, tags, scheme, bio):
    assert detect_scheme([tags]) == scheme
    path = write(tmp_path, "a.conll", "".join(f"w{i} {tag}\n" for i, tag in enumerate(tags)))
    examples = read_tagged(path, invalid_tags="error")
    assert examples.columns["tags"] == [bio]
    assert f"tags {scheme}" in examples.notes[0]


def test_to_bio_reports_an_inside_tag_that_begins_nothing():
    assert to_bio(["O", "I-PER", "B-LOC", "I-PER"]) == (["O", "B-PER", "B-LOC", "B-PER"], [1, 3])
    assert to_bio(["O", "I-PER"], lenient=True) == (["O", "B-PER"], [])


def test_inside_tags_without_a_begin_are_repaired_and_counted(tmp_path):
    path = write(tmp_path, "train.conll", "a B-PER\nb I-PER\nc O\nd I-PER\n\ne I-PER\n\nf B-LOC\ng I-PER\n")
    examples = read_tagged(path)
    assert examples.columns["tags"] == [["B-PER", "I-PER", "O", "B-PER"], ["B-PER"], ["B-LOC", "B-PER"]]
    assert examples.warnings == ["train.conll: 3 tags 'I-PER' with no 'B-PER' before them were read as 'B-PER' "
                                 "(token_classification.invalid_tags=error makes this an error)"]


def test_inside_tags_without_a_begin_are_an_error_when_asked(tmp_path):
    path = write(tmp_path, "train.conll", "a B-PER\nb I-PER\n\nc O\nd I-LOC\n")
    with pytest.raises(DataError) as caught:
        read_tagged(path, invalid_tags="error")
    assert str(caught.value) == (f"{path}, line 5, field 'tags': 'I-LOC' has no 'B-LOC' before it. Write 'B-LOC' "
                                 "where the entity begins (token_classification.invalid_tags=repair reads it as B-LOC)")
    skipped = read_tagged(path, invalid_tags="error", on_invalid="skip")
    assert len(skipped) == 1 and skipped.skipped == {"an I- tag with no B- before it": 1}


def test_tag_types_and_labels():
    assert tag_types([["B-PER", "O"], ["I-LOC"]]) == ["LOC", "PER"]
    assert bio_labels(["PER", "LOC"]) == ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]


# --- rows: token lists ---------------------------------------------------------------------------

def test_jsonl_token_and_tag_lists(tmp_path):
    path = write_jsonl(tmp_path, "train.jsonl", [{"tokens": ["EU", "rejects"], "tags": ["B-ORG", "O"]},
                                                 {"tokens": ["Peter"], "tags": ["S-PER"]}])
    examples = read_tagged(path)
    assert examples.columns["tags"] == [["B-ORG", "O"], ["B-PER"]]
    assert examples.where == ["line 1", "line 2"]
    assert examples.notes[0].startswith("train.jsonl: token lists ('tokens', 'tags'), 2 sentences, 3 tokens")


def test_custom_column_names_and_json_lines_under_a_json_name(tmp_path):
    rows = [{"words": ["CHICAGO", "AT", "ATLANTA"], "ner": ["B-ORG", "O", "B-LOC"]},
            {"words": ["Bill"], "ner": ["B-PER"]}]
    path = write_jsonl(tmp_path, "sample.json", rows)
    with pytest.raises(DataError) as caught:
        read_tagged(path)
    assert str(caught.value) == (f"{path}, line 1: has neither 'tokens' (token lists) nor 'spans' (character spans). "
                                 "The rows have keys: words, ner. Set data.tokens=<one of them> (and data.tags), or "
                                 "data.text and data.spans")
    examples = read_tagged(path, tokens="words", tags="ner")
    assert examples.columns["text"] == ["CHICAGO AT ATLANTA", "Bill"]
    with pytest.raises(DataError, match=r"field 'tags': no such column. The rows have keys: words, ner. "
                                        r"Set data.tags=<one of them>"):
        read_tagged(path, tokens="words")


def test_token_list_errors_name_the_line_and_field(tmp_path):
    path = write_jsonl(tmp_path, "train.jsonl", [{"tokens": ["a", "b"], "tags": ["O", "O"]},
                                                 {"tokens": ["a", "b"], "tags": ["O"]},
                                                 {"tokens": ["a"], "tags": [3]}])
    with pytest.raises(DataError) as caught:
        read_tagged(path)
    assert str(caught.value) == (f"{path}, line 2, field 'tags': 2 tokens but 1 tags. Give exactly one tag per token")
    examples = read_tagged(path, on_invalid="skip")
    assert len(examples) == 1
    assert examples.skipped == {"tokens and tags of different lengths": 1, "a tag that is not a string": 1}
    path.write_text(json.dumps({"tokens": ["a"], "tags": [3]}))
    with pytest.raises(DataError, match=r"line 1, field 'tags': tag 1 is int 3, not a string. Write them as strings "
                                        r"such as 'B-PER' \(map tag ids to their names first\)"):
        read_tagged(path)


# --- rows: text with character spans -------------------------------------------------------------

def test_spans_become_words_and_bio_tags_splitting_a_word_at_a_span_edge(tmp_path):
    text = "Ich wohne in Köln-Ehrenfeld, sagt Anna Maria."
    spans = [{"start": 13, "end": 17, "label": "LOC"}, [34, 44, "PER"]]
    rows = [{"text": text, "spans": spans}, {"text": "MeineFirmaGmbH", "spans": [[5, 14, "ORG"]]}]
    examples = read_tagged(write_jsonl(tmp_path, "train.jsonl", rows))
    assert examples.columns["tokens"][0] == ["Ich", "wohne", "in", "Köln", "-Ehrenfeld", ",", "sagt", "Anna",
                                             "Maria", "."]  # the word Köln-Ehrenfeld is cut at the span's end
    assert examples.columns["tags"][0] == ["O", "O", "O", "B-LOC", "O", "O", "O", "B-PER", "I-PER", "O"]
    assert examples.columns["tokens"][1] == ["Meine", "FirmaGmbH"]  # the span starts inside the word
    assert examples.columns["text"][0] == text
    assert_offsets_hold(examples)
    found = entities_from_tags(examples.columns["tags"][0], examples.columns["offsets"][0], text)
    assert [(e["text"], e["label"]) for e in found] == [("Köln", "LOC"), ("Anna Maria", "PER")]


def test_overlapping_spans_are_an_error(tmp_path):
    path = write_jsonl(tmp_path, "train.jsonl", [{"text": "New York City", "spans": [
        {"start": 0, "end": 8, "label": "LOC"}, {"start": 4, "end": 13, "label": "LOC"}]}])
    with pytest.raises(DataError) as caught:
        read_tagged(path)
    assert str(caught.value) == (f"{path}, line 1, field 'spans': span 0-8 'LOC' ('New York') overlaps span 4-13 "
                                 "'LOC' ('York City'). Nested or overlapping entities cannot be tagged: keep one of "
                                 "them")


def test_a_span_outside_the_text_is_an_error(tmp_path):
    path = write_jsonl(tmp_path, "train.jsonl", [{"text": "Paris", "spans": [{"start": 0, "end": 9, "label": "LOC"}]}])
    with pytest.raises(DataError, match=r"line 1, field 'spans': span 1 .* is not a range of the text"):
        read_tagged(path)


def test_text_rows_without_targets(tmp_path):
    examples = read_tagged(write_jsonl(tmp_path, "new.jsonl", [{"text": "Angela Merkel besucht Paris."}]),
                           with_targets=False)
    assert examples.columns["tokens"] == [["Angela", "Merkel", "besucht", "Paris", "."]]


# --- words and entities --------------------------------------------------------------------------

def test_split_words_english_chinese_and_combining_marks():
    text = "Don't stop, (U.S. 2-3!) in Lima... e-mail:"
    assert [text[s:e] for s, e in split_words(text)] == ["Don't", "stop", ",", "(", "U.S.", "2-3", "!", ")", "in",
                                                        "Lima", ".", ".", ".", "e-mail", ":"]
    chinese, hindi = "我住在北京，ok。", "नमस्ते दुनिया"  # Hindi vowel signs are combining marks
    assert [chinese[s:e] for s, e in split_words(chinese)] == ["我", "住", "在", "北", "京", "，", "ok", "。"]
    assert [hindi[s:e] for s, e in split_words(hindi)] == ["नमस्ते", "दुनिया"]


def test_entities_from_tags_offsets_scores_and_lenient_starts():
    text = "Peter Blackburn met EU officials"
    offsets = split_words(text)
    tags = ["B-PER", "I-PER", "O", "I-ORG", "O"]
    assert entities_from_tags(tags, offsets, text, scores=[0.9, 0.8, 1.0, 0.55556, 1.0]) == [
        {"start": 0, "end": 15, "text": "Peter Blackburn", "label": "PER", "score": 0.85},
        {"start": 20, "end": 22, "text": "EU", "label": "ORG", "score": 0.5556}]
    assert entities_from_tags(["B-PER", "B-PER", "I-LOC"], offsets[:3], text) == [
        {"start": 0, "end": 5, "text": "Peter", "label": "PER"},
        {"start": 6, "end": 15, "text": "Blackburn", "label": "PER"},
        {"start": 16, "end": 19, "text": "met", "label": "LOC"}]
