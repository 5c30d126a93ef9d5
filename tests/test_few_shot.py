"""train.strategy=few-shot: the pairs drawn, the contrastive stage pulling texts of a class together, the
logistic-regression head copied exactly into the classifier, and a run whose model/ predicts, exports
to ONNX and loads through transformers' Auto classes like any other."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
import torch

import tailor
from conftest import sentiment_rows, write_csv
from tailor.errors import ConfigError
from tailor.training.few_shot import contrastive_pairs


def test_pairs_hold_partners_of_the_same_class_and_of_others_seeded():
    labels = [0, 0, 0, 1, 1, 2, 2]
    pairs = contrastive_pairs(labels, 3, seed=0)
    assert len(pairs) == 2 * 3 * len(labels)
    assert all((labels[i] == labels[j]) == (target == 1.0) and i != j for i, j, target in pairs)
    assert Counter(target for *_, target in pairs) == {1.0: 21, 0.0: 21}
    assert pairs == contrastive_pairs(labels, 3, seed=0) != contrastive_pairs(labels, 3, seed=1)
    lonely = contrastive_pairs([0, 1, 1], 1, seed=0)  # a class of one has no partner of its own class
    assert Counter(i for i, _, t in lonely if t == 1.0) == {1: 1, 2: 1}


def _few_shot_config(make_config, tmp_path, **few_shot):
    rows = sentiment_rows(24, seed=1)
    write_csv(tmp_path / "train.csv", rows)
    return make_config(train={"strategy": "few-shot"},
                       text_classification={"classical_baseline": False,
                                            "few_shot": {"pairs_per_example": 4, "lr": 1e-3, **few_shot}})


def _similarity_gap(model, tokenizer, texts, labels) -> float:
    from tailor.training.few_shot import embeddings

    vectors = torch.nn.functional.normalize(torch.as_tensor(embeddings(model, tokenizer, texts, 32)), dim=-1)
    cosine = vectors @ vectors.T
    same = torch.tensor([[a == b for b in labels] for a in labels]) & ~torch.eye(len(labels), dtype=torch.bool)
    different = torch.tensor([[a != b for b in labels] for a in labels])
    return float(cosine[same].mean() - cosine[different].mean())


def test_the_contrastive_stage_pulls_texts_of_a_class_together_and_the_head_is_the_regression(tiny_bert):
    from sklearn.linear_model import LogisticRegression
    from transformers import AutoTokenizer

    from tailor.config import load_config
    from tailor.data.examples import Examples
    from tailor.data.loading import TaskData
    from tailor.models.mean_pooled import mean_pooled_classifier
    from tailor.tasks import get_task, resolve_config
    from tailor.training.few_shot import embeddings, fit_few_shot

    rows = sentiment_rows(24, seed=1)
    texts, labels = [r["text"] for r in rows], [r["label"] for r in rows]
    cfg = resolve_config(load_config(None, base={
        "task": "text-classification", "model": str(tiny_bert), "data": {"train": "x.csv", "max_length": 32},
        "train": {"strategy": "few-shot", "freeze_embeddings": False},
        "text_classification": {"few_shot": {"pairs_per_example": 8, "lr": 1e-3, "epochs": 2}}}),
        get_task("text-classification"))
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    model = mean_pooled_classifier(str(tiny_bert), ["negative", "positive"])
    before = _similarity_gap(model, tokenizer, texts, labels)
    examples = Examples(tiny_bert, {"text": texts, "label": labels}, [str(i) for i in range(24)])
    data = TaskData(examples, examples, ["negative", "positive"], "file")
    result = fit_few_shot(model, tokenizer, data, cfg)
    assert result.pairs == 24 * 8 * 2 and result.global_step == 2 * 24
    assert _similarity_gap(model, tokenizer, texts, labels) > before + 0.2
    features = embeddings(model, tokenizer, texts, 32)
    ids = [int(label == "positive") for label in labels]
    regression = LogisticRegression(max_iter=5000, random_state=cfg.train.seed).fit(features, ids)
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        probabilities = torch.softmax(model.eval()(**batch).logits, -1).numpy()
    np.testing.assert_allclose(probabilities, regression.predict_proba(features), atol=1e-5)


def test_a_few_shot_run_predicts_exports_and_loads_as_a_sequence_classifier(make_config, tmp_path):
    metrics = tailor.train(_few_shot_config(make_config, tmp_path)).metrics
    run = tmp_path / "runs/config"
    assert json.loads((run / "model/config.json").read_text())["model_type"] == "bert_mean_pooled"
    assert metrics["train"]["strategy"] == "few-shot" and metrics["train"]["contrastive_pairs"] == 24 * 4 * 2
    history = json.loads((run / "history.json").read_text())
    assert [h["step"] for h in history] == list(range(1, 13))  # 192 pairs in steps of 16
    answers = tailor.predict(run, ["the movie was awful", "our trip was lovely"])
    assert {a["label"] for a in answers} <= {"negative", "positive"}
    import importlib

    from transformers import AutoModelForSequenceClassification

    importlib.import_module("tailor.models.mean_pooled")  # registers the architecture, as the model card says

    loaded = AutoModelForSequenceClassification.from_pretrained(run / "model")
    assert type(loaded).__name__ == "MeanPooledBertForSequenceClassification"
    exported = tailor.export(run, tmp_path / "onnx", format="onnx")
    report = json.loads((exported / "verification.json").read_text())
    assert report["passed"] and report["rows_identical"] == report["rows"] == 40
    assert tailor.predict(exported, ["the movie was awful", "our trip was lovely"]) == answers
    # and its model/ is a starting point like any other: tuned further the standard way
    further = tailor.train(make_config(model=str(run / "model"), train={"epochs": 1},
                                       output={"dir": str(tmp_path / "further")})).metrics
    assert further["train"]["strategy"] == "standard" and "f1_macro" in further["eval"]


def test_few_shot_is_refused_where_it_cannot_apply(make_config, tmp_path):
    from tailor.config import load_config
    from tailor.tasks import get_task, resolve_config

    with pytest.raises(ConfigError) as refused:
        resolve_config(load_config(None, base={"task": "token-classification", "data": {"train": "x.conll"},
                                               "train": {"strategy": "few-shot"}}), get_task("token-classification"))
    assert str(refused.value) == ("train.strategy=few-shot: for text classification (a sentence encoder and a new "
                                  "head); task token-classification trains the standard way")
    with pytest.raises(ConfigError) as refused:
        tailor.train(_few_shot_config(make_config, tmp_path), ["method=lora"])
    assert str(refused.value) == ("train.strategy=few-shot trains the encoder in full (method full) or its top "
                                  "layers (method freeze with freeze.layers); method lora is not supported with it")


def test_data_check_recommends_few_shot_when_every_class_is_small(make_config, tmp_path, cli):
    write_csv(tmp_path / "train.csv", sentiment_rows(40, seed=1))
    code, out, err = cli("data", "check", make_config())
    assert code == 0, err
    assert ("few examples: the largest class has 20 training examples; recommended: train.strategy=few-shot; at 8 "
            "and 16 tweets per class it scored macro-F1 0.69 and 0.70") in out
    code, out, err = cli("data", "check", make_config(train={"strategy": "few-shot"}))
    assert code == 0 and "recommended: train.strategy=few-shot" not in out
