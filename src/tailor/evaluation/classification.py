"""Classification metrics, all from scikit-learn; plus the baselines a fine-tuned model must beat.

scikit-learn is imported inside the functions that compute metrics: answering (predict, serve)
uses only the probability helpers here, and the import costs 0.7 s at every start."""

from __future__ import annotations

from collections import Counter

import numpy as np


def summary_metrics(truth: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """The few numbers logged at every evaluation during training."""
    from sklearn import metrics as skm

    precision, recall, f1, _ = skm.precision_recall_fscore_support(truth, predicted, average="macro", zero_division=0)
    return {"accuracy": float(skm.accuracy_score(truth, predicted)), "f1_macro": float(f1),
            "precision_macro": float(precision), "recall_macro": float(recall)}


def classification_metrics(truth: np.ndarray, probabilities: np.ndarray, labels: list[str]) -> dict:
    """Full metrics for the final report: macro scores, per-class P/R/F1, confusion matrix, ROC AUC."""
    from sklearn import metrics as skm

    predicted = probabilities.argmax(-1)
    ids = list(range(len(labels)))
    result = summary_metrics(truth, predicted)
    result["f1_weighted"] = float(skm.f1_score(truth, predicted, average="weighted", zero_division=0))
    precision, recall, f1, support = skm.precision_recall_fscore_support(
        truth, predicted, labels=ids, zero_division=0)
    result["per_class"] = {
        label: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
        for label, p, r, f, s in zip(labels, precision, recall, f1, support)
    }
    result["confusion_matrix"] = {"labels": labels,
                                  "matrix": skm.confusion_matrix(truth, predicted, labels=ids).tolist()}
    auc = _roc_auc(truth, probabilities, ids)
    if auc is not None:
        result["roc_auc"] = auc
    from tailor.evaluation.calibration import calibration_bins

    calibration = calibration_bins(truth, probabilities)  # how far the top probability can be trusted
    result["ece"], result["calibration"] = calibration["ece"], calibration["bins"]
    result["examples"] = int(len(truth))
    return result


def _roc_auc(truth: np.ndarray, probabilities: np.ndarray, ids: list[int]) -> float | None:
    from sklearn import metrics as skm

    present = set(truth.tolist())
    if len(present) < 2:
        return None  # undefined with a single class in the evaluation data
    if len(ids) == 2:
        return float(skm.roc_auc_score(truth, probabilities[:, 1]))
    if present != set(ids):
        return None
    return float(skm.roc_auc_score(truth, probabilities, multi_class="ovr", average="macro", labels=ids))


def class_probabilities(model, encoded, collate, batch_size: int, *, log: bool = False) -> np.ndarray:
    """Class probabilities in input order (rows x classes: small, whatever the data size); `log`:
    log-probabilities instead, exact where a probability would round to 0 (for fitting a temperature)."""
    import torch

    from tailor.training.inference import forward_batches

    normalise = torch.log_softmax if log else torch.softmax
    result = np.zeros((len(encoded.lengths), model.config.num_labels), dtype=np.float32)
    for rows, _, outputs in forward_batches(model, encoded, collate, batch_size):
        result[rows] = normalise(outputs.logits.float(), -1).cpu().numpy()
    return result


def model_labels(model) -> list[str]:
    """The classes a trained model answers with, in the order of its outputs."""
    return [model.config.id2label[i] for i in range(model.config.num_labels)]


def class_answers(probabilities: np.ndarray, names: list[str]) -> list[dict]:
    """One answer per row: the most probable class, its probability, and every class's."""
    answers = []
    for row in probabilities:
        best = int(row.argmax())
        answers.append({"label": names[best], "score": round(float(row[best]), 6),
                        "probabilities": {name: round(float(p), 6) for name, p in zip(names, row)}})
    return answers


def training_metrics():
    """compute_metrics for the evaluations during training; the engine hands over predicted ids."""

    def compute(eval_pred) -> dict[str, float]:
        predicted, label_ids = eval_pred
        return summary_metrics(np.asarray(label_ids), np.asarray(predicted))

    return compute


def majority_baseline(train_labels: list[str], eval_labels: list[str], labels: list[str]) -> dict:
    """Always answer the most frequent training label: the floor any model must clear."""
    majority = Counter(train_labels).most_common(1)[0][0]
    label2id = {label: i for i, label in enumerate(labels)}
    probabilities = np.zeros((len(eval_labels), len(labels)))
    probabilities[:, label2id[majority]] = 1.0
    truth = np.array([label2id[label] for label in eval_labels])
    return {"method": f"majority class ('{majority}')", **classification_metrics(truth, probabilities, labels)}


def tfidf_baseline(train_texts: list[str], train_labels: list[str], eval_texts: list[str],
                   eval_labels: list[str], labels: list[str], seed: int) -> dict:
    """TF-IDF word 1-2-grams + char 2-5-grams with logistic regression: the classical bar."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline, make_union

    min_df = 2 if len(train_texts) >= 1000 else 1  # rare n-grams are noise, unless the data is tiny
    features = make_union(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=min_df),
                          TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=min_df))
    pipeline = make_pipeline(features, LogisticRegression(max_iter=2000, C=4.0, random_state=seed))
    label2id = {label: i for i, label in enumerate(labels)}
    pipeline.fit(train_texts, [label2id[label] for label in train_labels])
    probabilities = np.zeros((len(eval_texts), len(labels)))
    probabilities[:, pipeline.classes_] = pipeline.predict_proba(eval_texts)
    truth = np.array([label2id[label] for label in eval_labels])
    return {"method": "TF-IDF (word 1-2 + char 2-5 grams) + logistic regression",
            **classification_metrics(truth, probabilities, labels)}


def classical_baselines(data, *, tfidf: bool, seed: int) -> dict:
    """metrics.json's `baseline` (majority class) and, unless turned off, `classical_baseline`
    (TF-IDF + logistic regression), both on the same evaluation data as the fine-tuned model."""
    import time

    train_labels, eval_labels = data.train.columns["label"], data.eval.columns["label"]
    result = {"baseline": majority_baseline(train_labels, eval_labels, data.labels)}
    if tfidf:
        started = time.perf_counter()
        result["classical_baseline"] = tfidf_baseline(_joined(data.train), train_labels, _joined(data.eval),
                                                      eval_labels, data.labels, seed)
        result["classical_baseline"]["runtime_s"] = round(time.perf_counter() - started, 1)
    return result


def _joined(examples) -> list[str]:
    pairs = examples.get("text_pair")
    texts = examples.columns["text"]
    return [f"{a} || {b or ''}" for a, b in zip(texts, pairs)] if pairs else texts
