"""The real embedded MiniLM on real shipped tweets (minutes on 2 cores)."""

import pytest

import tailor
from tailor.config import load_config
from tailor.data.shipped import sentiment_tweets, write_split

pytestmark = pytest.mark.slow


def test_minilm_on_shipped_tweets_beats_the_baselines(tmp_path):
    paths = write_split(sentiment_tweets(), tmp_path, {"train": 2000, "eval": 500})
    cfg = load_config(None, [], base={
        "task": "text-classification", "model": "minilm",
        "data": {"train": str(paths["train"]), "eval": str(paths["eval"]), "label": "sentiment", "max_length": 64},
        "train": {"epochs": 1}, "output": {"dir": str(tmp_path / "run")}})
    metrics = tailor.train(cfg).metrics
    assert metrics["eval"]["accuracy"] >= 0.83
    assert metrics["eval"]["accuracy"] >= metrics["baseline"]["accuracy"] + 0.12
    assert metrics["eval"]["f1_macro"] > metrics["baseline"]["f1_macro"] + 0.3
    answers = tailor.predict(cfg.output.dir, texts=["I love this, best day ever!", "worst flight of my life, never again"])
    assert [a["label"] for a in answers] == ["positive", "negative"]
