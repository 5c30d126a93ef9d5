"""Chinese through the text tasks: which embedded model can read the text (measured, and picked by
`model: auto`), a causal LM (SmolLM2's kind) as the backbone of classification, tagging and QA with
LoRA by default, and characters tagged one a line."""

from __future__ import annotations

import json

import pytest
import yaml

from conftest import write_csv
from task_fixtures import fast_config, write_conll, write_jsonl

REVIEWS = [("这本书非常好看，推荐大家买", "pos"), ("质量太差了，很失望", "neg"), ("物流很快，包装完好，满意", "pos"),
           ("屏幕有坏点，客服也不理人", "neg")]


def test_the_english_encoder_cannot_read_chinese_and_the_byte_level_lm_can():
    from tailor.data.readability import better_reader, embedded_readings

    readings = {r.model: r for r in embedded_readings([text for text, _ in REVIEWS], "text-classification")}
    assert set(readings) == {"minilm", "smollm2"}
    assert readings["minilm"].unknown > 0.3  # MiniLM's uncased English WordPiece
    assert readings["smollm2"].unknown == 0 and readings["smollm2"].byte_pieces > 0
    assert "smollm2: 0.0% unknown tokens, " in readings["smollm2"].line()
    assert better_reader(list(readings.values()), "minilm") == "smollm2"
    english = {r.model: r for r in embedded_readings(["a great book", "awful service"], "text-classification")}
    assert better_reader(list(english.values()), "minilm") == "minilm"  # the default, where it reads the text


def test_characters_one_a_line_are_read_as_text_without_spaces():
    from tailor.data.examples import Examples
    from tailor.data.readability import texts_of

    examples = Examples("x", {"tokens": [list("江泽民在北京"), ["Anna", "visited", "Oslo"]]}, ["1", "2"])
    assert texts_of(examples) == ["江泽民在北京", "Anna visited Oslo"]


def test_a_byte_level_tokenizer_gets_words_with_their_spaces_and_characters_without(smollm2_tokenizer):
    """Words given one by one to SmolLM2's byte-level BPE: an English word after another keeps its
    leading space (as in pretraining), a Chinese character gets none, so it costs the pieces it costs
    in running text instead of an extra space piece each."""
    from transformers import AutoTokenizer

    from tailor.tasks.token_classification import _as_read

    tokenizer = AutoTokenizer.from_pretrained(smollm2_tokenizer)
    words = ["EU", "rejects", "German", "call", *"江泽民在北京"]
    encoded = tokenizer(_as_read(tokenizer, [words])[0], is_split_into_words=True, add_special_tokens=False)
    pieces = tokenizer.convert_ids_to_tokens(encoded.input_ids)
    assert pieces[:4] == ["EU", "Ġrejects", "ĠGerman", "Ġcall"]
    in_running_text = tokenizer("EU rejects German call 江泽民在北京", add_special_tokens=False).input_ids
    assert encoded.input_ids == in_running_text
    assert sorted(set(encoded.word_ids())) == list(range(len(words)))


def test_model_auto_measures_which_model_reads_the_text_and_data_check_says_why(tmp_path, cli):
    write_csv(tmp_path / "reviews.csv", [{"text": t, "label": label} for t, label in REVIEWS * 6])
    config = {"task": "text-classification", "model": "auto", "data": {"train": "reviews.csv"}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    from tailor.verbs.common import resolved

    cfg, _ = resolved(tmp_path / "config.yaml")
    assert cfg.model.name == "smollm2" and cfg.method == "lora" and cfg.train.lr == 2e-4
    (tmp_path / "minilm.yaml").write_text(yaml.safe_dump({**config, "model": "minilm"}))
    code, out, err = cli("data", "check", str(tmp_path / "minilm.yaml"))
    assert code == 0, err
    assert "embedded models on this text: minilm: " in out
    assert "reads it best: smollm2; minilm, the default, cannot read it, so `model: auto` tries minilm, smollm2 on a " \
           "sample and trains the one that scores best" in out
    assert "this model cannot read the language; set model: auto (tries the embedded models on a sample, trains the " \
           "best), or choose" in out + err


def test_model_auto_tries_each_model_where_the_default_cannot_read_and_trains_the_best(tiny_bert, tiny_llama,
                                                                                         tmp_path, cli, monkeypatch):
    """MiniLM cannot read Chinese, so `model: auto` tries every candidate (here two tiny random models for
    the embedded ones) on a sample of shorter examples, trains the best in full and reports the trials."""
    import tailor.verbs.auto as auto

    monkeypatch.setattr(auto, "TRIAL_EXAMPLES", 16)
    monkeypatch.setattr(auto, "TRIAL_MAX_LENGTH", 16)
    monkeypatch.setattr(auto, "_candidates", lambda task: [str(tiny_bert), str(tiny_llama)])
    write_csv(tmp_path / "train.csv", [{"text": t, "label": label} for t, label in REVIEWS * 10])
    data = {"train": str(tmp_path / "train.csv"), "eval": str(tmp_path / "train.csv"), "max_length": 32}
    options = {"text_classification": {"classical_baseline": False}}
    config = {**fast_config(tiny_bert, data, options, max_steps=2), "task": "text-classification", "model": "auto",
              "output": {"dir": str(tmp_path / "run")}}
    config["train"].pop("lr")  # each model's own default
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    code, out, err = cli("train", str(tmp_path / "config.yaml"))
    assert code == 0, err
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    trials = metrics["auto"]["trials"]
    assert [(t["model"], t["method"], t["examples"], t["max_length"]) for t in trials] == [
        (str(tiny_bert), "full", 16, 16), (str(tiny_llama), "lora", 16, 16)]
    best = max(trials, key=lambda t: t["score"])
    assert all(t["full_training_s"] >= 0 and t["seconds"] > 0 for t in trials)
    saved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert saved["model"]["name"] == best["model"] and saved["model"]["auto"] is True
    assert saved["data"]["max_length"] == 32 and saved["data"]["max_samples"] is None  # the winner: as configured
    assert metrics["data"]["train_examples"] == 40  # the winner trained on all of it
    assert not (tmp_path / "run.auto-trials").exists()
    assert f"model: auto -> {best['model']} (in the trial: " in err and "all 40 examples in about" in err
    assert "each embedded model was tried first" in (tmp_path / "run" / "report.html").read_text()
    code, _, err = cli("train", str(tmp_path / "config.yaml"), "--resume")  # the model chosen, not new trials
    assert code == 0 and "model: auto: trying" not in err, err
    assert yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())["model"]["name"] == best["model"]


@pytest.mark.parametrize("task,rows,columns", [
    ("text-classification", "reviews", {"text", "label", "score"}),
    ("token-classification", "characters", {"text", "entities"}),
    ("question-answering", "questions", {"question", "answer", "start", "score"}),
])
def test_a_causal_lm_is_the_backbone_with_lora_and_its_new_head(task, rows, columns, tiny_llama, tmp_path):
    import tailor
    from safetensors.torch import load_file

    if rows == "reviews":
        write_csv(tmp_path / "train.csv", [{"text": t, "label": label} for t, label in REVIEWS * 6])
        data = {"train": str(tmp_path / "train.csv"), "eval": str(tmp_path / "train.csv"), "max_length": 32}
        predict_file = tmp_path / "train.csv"
    elif rows == "questions":
        context = "江泽民在北京。李鹏在上海。"
        write_jsonl(tmp_path / "train.jsonl", [
            {"id": f"q{i}", "question": f"{who}在哪里？", "context": context,
             "answers": {"text": [where], "answer_start": [context.index(where)]}}
            for i, (who, where) in enumerate([("江泽民", "北京"), ("李鹏", "上海")] * 6)])
        data = {"train": str(tmp_path / "train.jsonl"), "eval": str(tmp_path / "train.jsonl"), "max_length": 48}
        predict_file = tmp_path / "train.jsonl"
    else:
        sentence = [(c, t) for c, t in zip("江泽民在北京", ["B-PER", "I-PER", "I-PER", "O", "B-LOC", "I-LOC"])]
        write_conll(tmp_path / "train.conll", [sentence] * 12)
        data = {"train": str(tmp_path / "train.conll"), "eval": str(tmp_path / "train.conll"), "max_length": 32}
        predict_file = tmp_path / "train.conll"
    options = {"text-classification": {"text_classification": {"classical_baseline": False}},
               "question-answering": {"question_answering": {"stride": 16}}}.get(task, {})
    config = {"task": task, **fast_config(tiny_llama, data, options, max_steps=2),
              "output": {"dir": str(tmp_path / "run")}}
    config["train"].pop("lr")  # the default for this backbone
    from tailor.config import load_config

    result = tailor.train(load_config(None, base=config))
    saved = yaml.safe_load((result.dir / "config.yaml").read_text())
    assert saved["method"] == "lora" and saved["train"]["lr"] == 2e-4
    assert saved["eval"]["explain_examples"] == 0  # integrated gradients through an LM: asked for, not default
    weights = load_file(result.dir / "model" / "model.safetensors")  # merged on save: a plain model
    assert {"score.weight", "qa_outputs.weight"} & set(weights)
    answers = tailor.predict(result.dir, data=predict_file)
    assert columns <= set(answers[0])


def test_auto_keeps_the_classical_model_where_it_wins_and_the_fine_tuned_one_aside(tiny_bert, tmp_path, cli):
    """A tiny random encoder after one step against TF-IDF on texts whose label one word gives away: the
    classical model wins, becomes the run's model (predict, eval, serve use it), and the fine-tuned model
    is kept as a run of its own."""
    import httpx

    from conftest import sentiment_rows
    from test_serve import KEY, running

    write_csv(tmp_path / "train.csv", sentiment_rows(60, seed=1))
    write_csv(tmp_path / "eval.csv", sentiment_rows(20, seed=2))
    data = {"train": str(tmp_path / "train.csv"), "eval": str(tmp_path / "eval.csv"), "max_length": 32}
    config = {"task": "text-classification", **fast_config(tiny_bert, data, {}, max_steps=1),
              "output": {"dir": str(tmp_path / "run")}}
    config["model"] = {"name": str(tiny_bert), "auto": True}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    code, out, err = cli("train", str(tmp_path / "config.yaml"))
    assert code == 0, err
    run = tmp_path / "run"
    metrics = json.loads((run / "metrics.json").read_text())
    auto = metrics["auto"]
    assert auto["winner"].startswith("TF-IDF") and auto["fine_tuned_run"] == "fine-tuned"
    assert metrics["eval"]["f1_macro"] == auto["classical"]["eval"] > auto["fine_tuned"]["eval"]
    assert metrics["fine_tuned_baseline"]["f1_macro"] == auto["fine_tuned"]["eval"]
    assert "classical_baseline" not in metrics and metrics["baseline"]["paired_test"]
    assert {p.name for p in (run / "model").iterdir()} == {"classical.skops", "config.json", "README.md"}
    assert (run / "fine-tuned" / "model" / "model.safetensors").exists()
    assert "Which model answers (model: auto)" in (run / "report.html").read_text()
    assert "model: auto: TF-IDF (word 1-2 + char 2-5 grams) + logistic regression answers (f1_macro" in err
    code, out, err = cli("predict", str(run), "--text", "the movie was wonderful")
    assert code == 0 and json.loads(out.splitlines()[0])["label"] == "positive", err
    code, out, err = cli("eval", str(run), "--data", str(tmp_path / "eval.csv"))
    assert code == 0 and "f1_macro" in out, err
    code, _, err = cli("predict", str(run / "fine-tuned"), "--text", "the movie was wonderful")
    assert code == 0, err
    code, _, err = cli("export", str(run), "--out", str(tmp_path / "export"))
    assert code == 2 and "this run answers with TF-IDF + logistic regression (model: auto chose it" in err
    with running(run, api_key=KEY) as (url, _):
        answer = httpx.post(f"{url}/v1/predict", json={"inputs": ["our trip was awful"]},
                            headers={"Authorization": f"Bearer {KEY}"})
    assert answer.status_code == 200 and answer.json()["answers"][0]["label"] == "negative"
