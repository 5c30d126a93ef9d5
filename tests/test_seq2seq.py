"""Text to text (seq2seq): both layouts read and refused clearly, generation scored as sacrebleu and
rouge-score score it (Chinese included), a chat LM framed with the chat task's machinery, an
encoder-decoder trained and answering through predict, eval and the server."""

from __future__ import annotations

import json

import pytest
import sacrebleu
import yaml

from task_fixtures import date_rows, fast_config, write_jsonl
from conftest import write_csv
from tailor.evaluation.generated import GeneratedScores, WordsAndCharacters, score_texts

TRANSLATIONS = [{"translation": {"en": "Good morning", "de": "Guten Morgen"}},
                {"translation": {"en": "Thank you", "de": "Danke"}}]


def _cfg(tmp_path, model, **data):
    from tailor.config import load_config
    from tailor.tasks import get_task, resolve_config

    return resolve_config(load_config(None, base={"task": "seq2seq", "model": str(model),
                                                  "data": {"train": str(tmp_path / "train.jsonl"), **data}}),
                          get_task("seq2seq"))


def _read(tmp_path, name, rows, targets=True, **data):
    from tailor.tasks import get_task

    path = tmp_path / name
    if name.endswith(".csv"):
        write_csv(path, rows)
    else:
        write_jsonl(path, rows)
    return get_task("seq2seq").read(path, _cfg(tmp_path, "smollm2", **data), targets=targets)


def test_both_layouts_are_read_as_sources_and_targets(tmp_path):
    columns = _read(tmp_path, "pairs.csv", [{"in": "a, b", "out": "A B"}, {"in": "c", "out": "C"}], source="in",
                    target="out")
    assert columns.columns == {"source": ["a, b", "c"], "target": ["A B", "C"]}
    translations = _read(tmp_path, "wmt.jsonl", TRANSLATIONS, source_lang="de", target_lang="en")
    assert translations.columns == {"source": ["Guten Morgen", "Danke"], "target": ["Good morning", "Thank you"]}
    assert "wmt.jsonl: translation rows, de -> en, 2 examples" in translations.notes
    inputs = _read(tmp_path, "inputs.jsonl", [{"source": "x"}, {"source": "y"}], targets=False)
    assert inputs.columns == {"source": ["x", "y"]}


@pytest.mark.parametrize("rows,data,message", [
    ([{"text": "a", "target": "b"}], {}, "pairs.jsonl, field 'source': no such column. The file has columns: text, "
     "target. Set data.source=<one of them>"),
    ([{"source": "a", "target": " "}], {}, "pairs.jsonl, line 1, field 'target': the text is empty. Fill it in or "
     "remove the row (or set data.on_invalid=skip to skip such rows)"),
    (TRANSLATIONS, {}, "pairs.jsonl, field 'translation': rows shaped {\"translation\": {...}} need both languages "
     "named. Set data.source_lang and data.target_lang to two of: en, de"),
    (TRANSLATIONS + [{"translation": {"en": "Yes"}}], {"source_lang": "en", "target_lang": "de"},
     "pairs.jsonl, line 3, field 'translation.de': missing (languages in this row: en). Fill it in or remove the row"),
    ([{"translation": "Hello"}], {"source_lang": "en", "target_lang": "de"},
     "pairs.jsonl, line 1, field 'translation': expected an object of texts by language, got str"),
])
def test_bad_rows_are_named_at_their_line(rows, data, message, tmp_path):
    from tailor.errors import DataError

    with pytest.raises(DataError) as caught:
        _read(tmp_path, "pairs.jsonl", rows, **data)
    assert str(caught.value).startswith(f"{tmp_path / message.split(', ', 1)[0]}, {message.split(', ', 1)[1]}")


def test_skipped_translation_rows_are_counted(tmp_path):
    rows = TRANSLATIONS + [{"translation": {"en": "Yes", "de": ""}}]
    examples = _read(tmp_path, "pairs.jsonl", rows, source_lang="en", target_lang="de", on_invalid="skip")
    assert len(examples) == 2 and dict(examples.skipped) == {"the text is empty in 'translation.de'": 1}


def test_column_keys_of_seq2seq_are_refused_by_other_tasks(tmp_path):
    from tailor.config import load_config
    from tailor.errors import ConfigError

    with pytest.raises(ConfigError, match=r"data.source does not apply to task text-classification \(it reads "
                                          r"data.text, data.text_pair, data.label\)"):
        load_config(None, base={"task": "text-classification", "data": {"train": "x.csv", "source": "a"}})


def test_scores_equal_sacrebleu_and_rouge_over_the_whole_set_however_batched():
    outputs = ["The cat sat on the mat.", "It is raining today", "2020-01-02", "a b c d e f"]
    references = ["The cat is on the mat.", "It rains today", "2020-01-02", "a b c d e g"]
    scores = GeneratedScores()
    scores.add(outputs[:1], references[:1])
    scores.add(outputs[1:], references[1:])
    result = scores.result()
    assert result["bleu"] == round(sacrebleu.corpus_bleu(outputs, [references]).score, 2)
    assert result["chrf"] == round(sacrebleu.corpus_chrf(outputs, [references]).score, 2)
    assert result["exact_match"] == 0.25 and result["bleu_tokenizer"] == "13a"
    # ROUGE-L: "the cat sat" in "the cat sat on mat" -> LCS 3, precision 1, recall 3/5, F 0.75
    assert score_texts(["the cat sat"], ["the cat sat on mat"])["rouge_l"] == 0.75


def test_chinese_is_scored_by_character_not_as_one_word():
    outputs, references = ["今天天气很好", "我爱北京"], ["今天天气不错", "我爱北京"]
    result = score_texts(outputs, references)
    assert result["bleu_tokenizer"] == "zh"
    assert result["bleu"] == round(sacrebleu.corpus_bleu(outputs, [references], tokenize="zh").score, 2) > 0
    # 今天天气 shared: LCS 4 of 6 characters, F 2/3; the second pair is exact
    assert result["rouge_l"] == round((2 / 3 + 1) / 2, 4) and result["exact_match"] == 0.5
    assert WordsAndCharacters().tokenize("Hello 北京, naïve!") == ["hello", "北", "京", "naïve"]


def test_a_chat_model_learns_the_output_only_after_the_instruction_and_input(tiny_llama, tmp_path):
    from tailor.data.examples import IGNORE, Examples
    from tailor.tasks import get_task

    task = get_task("seq2seq")
    cfg = _cfg(tmp_path, tiny_llama)
    cfg.seq2seq.instruction, cfg.seq2seq.packing = "Write the date in ISO 8601.", False
    tokenizer = task.processor(str(tiny_llama), cfg)
    examples = Examples(tmp_path, {"source": ["March 3, 2020"], "target": ["2020-03-03"]}, ["line 1"])
    row = task.encode(examples, tokenizer, cfg, None).dataset[0]
    text = tokenizer.decode(row["input_ids"])
    assert "<|im_start|>user\nWrite the date in ISO 8601.\n\nMarch 3, 2020<|im_end|>" in text
    trained = [token for token, label in zip(row["input_ids"], row["labels"]) if label != IGNORE]
    assert tokenizer.decode(trained) == "2020-03-03<|im_end|>"


def test_an_encoder_decoder_learns_to_stop_from_the_eos_added_to_its_targets(tiny_t5, tmp_path):
    from tailor.data.examples import Examples
    from tailor.tasks import get_task

    task = get_task("seq2seq")
    cfg = _cfg(tmp_path, tiny_t5, max_length=8)
    tokenizer = task.processor(str(tiny_t5), cfg)
    examples = Examples(tmp_path, {"source": ["short", "a b " * 20], "target": ["X", "Y"]}, ["line 1", "line 2"])
    encoded = task.encode(examples, tokenizer, cfg, None)
    assert encoded.dataset[0]["labels"] == tokenizer("X")["input_ids"] + [tokenizer.eos_token_id]
    assert len(encoded.dataset[1]["input_ids"]) == 8 and encoded.fit.truncated == 1
    assert "1 of 2 examples are longer than data.max_length=8 tokens" in encoded.fit.message("examples")


def _t5_run(tmp_path, tiny_t5, cli, **extra):
    write_jsonl(tmp_path / "train.jsonl", [{"source": r["source"], "target": "done"} for r in date_rows(40, seed=1)])
    write_jsonl(tmp_path / "eval.jsonl", [{"source": r["source"], "target": "done"} for r in date_rows(8, seed=2)])
    data = {"train": str(tmp_path / "train.jsonl"), "eval": str(tmp_path / "eval.jsonl"), "max_length": 32}
    config = {"task": "seq2seq", **fast_config(tiny_t5, data, {"seq2seq": {"max_new_tokens": 6, "samples": 2}},
                                               epochs=8, batch_size=8, lr=1e-2),
              "method": "full", "output": {"dir": str(tmp_path / "run")}, **extra}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    code, out, err = cli("train", str(path))
    assert code == 0, err
    return tmp_path / "run"


def test_an_encoder_decoder_trains_and_answers_through_predict_eval_and_the_server(tiny_t5, tmp_path, cli):
    import httpx

    from test_serve import KEY, running

    run = _t5_run(tmp_path, tiny_t5, cli)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["eval"]["exact_match"] == 1.0 and metrics["baseline"]["exact_match"] == 0.0
    assert metrics["copy_baseline"]["method"] == "the input copied unchanged"
    assert metrics["samples"][0]["tuned"] == "done" and metrics["samples"][0]["reference"] == "done"
    assert "Outputs for evaluation inputs" in (run / "report.html").read_text()
    code, out, err = cli("predict", str(run), "--text", "May 5, 2021")
    assert code == 0, err
    assert json.loads(out.splitlines()[0]) == {"text": "May 5, 2021", "output": "done"}
    code, out, err = cli("predict", str(run), "--data", str(tmp_path / "eval.jsonl"))
    first = json.loads(out.splitlines()[0])
    assert code == 0 and first == {"source": date_rows(8, seed=2)[0]["source"], "reference": "done", "output": "done"}
    code, out, err = cli("eval", str(run), "--data", str(tmp_path / "eval.jsonl"))
    assert code == 0 and "exact_match" in out, err
    with running(run, api_key=KEY) as (url, _):
        answer = httpx.post(f"{url}/v1/predict", json={"inputs": ["June 1, 1999"]},
                            headers={"Authorization": f"Bearer {KEY}"})
    assert answer.status_code == 200 and answer.json()["answers"] == [{"text": "June 1, 1999", "output": "done"}]


def test_data_check_reports_lengths_and_what_would_be_cut(tiny_llama, tmp_path, cli):
    rows = date_rows(20, seed=1) + [{"source": "word " * 80, "target": "long " * 40}]
    write_jsonl(tmp_path / "train.jsonl", rows)
    config = {"task": "seq2seq", "model": str(tiny_llama), "data": {"train": "train.jsonl", "max_length": 64},
              "seq2seq": {"max_new_tokens": 16}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    code, out, err = cli("data", "check", str(tmp_path / "config.yaml"))
    assert code == 0, err
    assert "input length in tokens: p50" in out and "output length in tokens: p50" in out
    assert "examples longer than data.max_length=64: 1 (their outputs would be truncated)" in out
    assert "outputs longer than seq2seq.max_new_tokens=16: 1" in out
    assert "1 training outputs are longer than seq2seq.max_new_tokens=16 (longest 41 tokens)" in out + err


def test_a_chat_model_run_exports_merged_and_answers_as_the_run_does(tmp_path, request, cli):
    import tailor
    from transformers import AutoModelForCausalLM

    from task_fixtures import train_tiny_run

    run = train_tiny_run("seq2seq", tmp_path, request, max_steps=2)
    code, _, err = cli("export", str(run), "--merge", "--out", str(tmp_path / "merged"))
    assert code == 0, err
    assert not (tmp_path / "merged" / "adapter_config.json").exists()
    AutoModelForCausalLM.from_pretrained(tmp_path / "merged")  # a plain model, no peft needed
    texts = ["March 3, 2020", "4 May 1999"]
    assert tailor.predict(tmp_path / "merged", texts=texts) == tailor.predict(run, texts=texts)


def test_translation_rows_train_and_answer_end_to_end(tiny_t5, tmp_path, cli):
    pairs = [{"translation": {"en": f"{n} apples", "fr": f"{n} pommes"}} for n in range(1, 25)]
    write_jsonl(tmp_path / "train.jsonl", pairs)
    data = {"train": str(tmp_path / "train.jsonl"), "eval": 0.25, "source_lang": "en", "target_lang": "fr",
            "max_length": 16}
    config = {"task": "seq2seq", **fast_config(tiny_t5, data, {"seq2seq": {"max_new_tokens": 4, "samples": 1}},
                                               max_steps=2),
              "output": {"dir": str(tmp_path / "run")}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    code, _, err = cli("train", str(tmp_path / "config.yaml"))
    assert code == 0, err
    assert "train.jsonl: translation rows, en -> fr, 24 examples" in err
    assert (tmp_path / "run" / "model" / "adapter_config.json").exists()  # LoRA, as peft's seq2seq type
    assert json.loads((tmp_path / "run" / "model" / "adapter_config.json").read_text())["task_type"] == "SEQ_2_SEQ_LM"
    code, out, err = cli("predict", str(tmp_path / "run"), "--data", str(tmp_path / "train.jsonl"))
    assert code == 0, err
    assert json.loads(out.splitlines()[0]).keys() == {"source", "reference", "output"}


def test_an_encoder_writes_only_as_bert2bert_and_then_in_full(tiny_bert, tmp_path, cli):
    write_jsonl(tmp_path / "train.jsonl", [{"source": r["source"], "target": "done"} for r in date_rows(16, seed=1)])
    data = {"train": str(tmp_path / "train.jsonl"), "eval": str(tmp_path / "train.jsonl"), "max_length": 24}
    config = {"task": "seq2seq", **fast_config(tiny_bert, data, {"seq2seq": {"max_new_tokens": 4, "samples": 1}},
                                               max_steps=2), "output": {"dir": str(tmp_path / "run")}}
    for name, extra in (("plain", {}), ("lora", {"seq2seq": {"bert2bert": True, "max_new_tokens": 4}}),
                        ("full", {"seq2seq": {"bert2bert": True, "max_new_tokens": 4}, "method": "full"})):
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump({**config, **extra}))
    code, _, err = cli("train", str(tmp_path / "plain.yaml"))
    assert code == 2 and f"model {tiny_bert} is an encoder: it reads text but does not write it." in err
    code, _, err = cli("train", str(tmp_path / "lora.yaml"))
    assert code == 2 and "seq2seq.bert2bert: the decoder's cross-attention starts from scratch and must train in " \
                         "full; set method: full (not lora)" in err
    code, _, err = cli("train", str(tmp_path / "full.yaml"))
    assert code == 0, err
    assert json.loads((tmp_path / "run" / "model" / "config.json").read_text())["model_type"] == "encoder-decoder"
    code, out, err = cli("predict", str(tmp_path / "run"), "--text", "May 5, 2021")
    assert code == 0 and "output" in json.loads(out.splitlines()[0]), err
