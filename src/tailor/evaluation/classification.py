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


def classification_metrics(truth: np.ndarray, probabilities: np.ndarray, labels: list[str], *,
                           resamples: int = 1000) -> dict:
    """Full metrics for the final report: macro scores, per-class P/R/F1, confusion matrix, ROC AUC,
    calibration, and bootstrap 95 % intervals of macro F1 and accuracy over `resamples` resamples (0: none)."""
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
    if resamples:
        from tailor.evaluation.honesty import bootstrap_interval

        macro_f1 = lambda t, p: skm.f1_score(t, p, average="macro", zero_division=0)  # noqa: E731
        result["ci95"] = {"f1_macro": bootstrap_interval(truth, predicted, macro_f1, resamples=resamples),
                          "accuracy": bootstrap_interval(truth, predicted, skm.accuracy_score, resamples=resamples)}
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


def dropout_rates(model) -> list[float]:
    """The distinct rates of the model's own dropout layers (as its config built them)."""
    import torch

    return sorted({m.p for m in model.modules() if isinstance(m, torch.nn.Dropout) and m.p > 0})


def mc_dropout_probabilities(model, encoded, collate, batch_size: int, samples: int, seed: int = 0):
    """Monte Carlo dropout (Gal & Ghahramani 2016): every row answered `samples` times with the model's
    dropout layers on; returns the mean class probabilities and their standard deviation over the
    samples (rows x classes each; the samples are held for one batch at a time, never for the data)."""
    import torch

    from tailor.training.inference import device_batches

    rows_total, classes = len(encoded.lengths), model.config.num_labels
    mean, spread = np.zeros((rows_total, classes)), np.zeros((rows_total, classes))
    dropouts = [m for m in model.modules() if isinstance(m, torch.nn.Dropout)]
    torch.manual_seed(seed)
    try:
        for rows, batch in device_batches(model, encoded, collate, batch_size):
            for layer in dropouts:  # the model was just put in eval mode; only its dropout samples
                layer.train()
            inputs = {k: v for k, v in batch.items() if k != "labels"}
            drawn = np.stack([torch.softmax(model(**inputs).logits.float(), -1).cpu().numpy() for _ in range(samples)])
            mean[rows], spread[rows] = drawn.mean(0), drawn.std(0)
    finally:
        model.eval()
    return mean, spread


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


def majority_baseline(train_labels: list[str], labels: list[str]):
    """Always answer the most frequent training label: the floor any model must clear.
    Returns (description, probabilities of a list of examples)."""
    majority = Counter(train_labels).most_common(1)[0][0]
    column = labels.index(majority)

    def probabilities(examples) -> np.ndarray:
        result = np.zeros((len(examples), len(labels)))
        result[:, column] = 1.0
        return result

    return f"majority class ('{majority}')", probabilities


def tfidf_baseline(train, labels: list[str], seed: int, texts=None):
    """TF-IDF word 1-2-grams + char 2-5-grams with logistic regression, fitted on the training texts:
    the classical bar; `texts(examples)` is what it reads of them (default: a text and its pair).
    Returns (description, probabilities of a list of examples)."""
    from tailor.models.classical import fit_classical

    model = fit_classical(train, labels, seed, texts)
    return model.description, model.probabilities


def classical_baselines(data, *, tfidf: bool, seed: int, tuned_answers=None, texts=None) -> dict:
    """metrics.json's `baseline` (majority class) and, unless turned off, `classical_baseline`
    (TF-IDF + logistic regression, on texts), on the same evaluation data as the fine-tuned model and,
    under `test`, on data.test. `tuned_answers(examples)`: the fine-tuned model's class ids, for a
    paired test against each baseline on the rows the run is judged on (data.test, else eval)."""
    from tailor.evaluation.honesty import paired_test, scored_baselines

    train_labels = data.train_unsampled.columns["label"]
    makers = {"baseline": lambda: majority_baseline(train_labels, data.labels)}
    if tfidf:
        makers["classical_baseline"] = lambda: tfidf_baseline(data.train_unsampled, data.labels, seed, texts)

    def score(examples, probabilities):
        return classification_metrics(_class_ids(examples, data.labels), probabilities, data.labels, resamples=0)

    def paired(judged, probabilities):
        return paired_test(judged_truth, tuned, probabilities.argmax(-1))

    if tuned_answers is not None:
        judged = data.test if data.test is not None else data.eval
        tuned, judged_truth = tuned_answers(judged), _class_ids(judged, data.labels)
    return scored_baselines(makers, data, score, paired if tuned_answers is not None else None)


def _class_ids(examples, labels: list[str]) -> np.ndarray:
    label2id = {label: i for i, label in enumerate(labels)}
    return np.array([label2id[label] for label in examples.columns["label"]])


def tfidf_features(rows: int):
    """TF-IDF word 1-2-grams + char 2-5-grams: the features of the classical baselines."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_union

    min_df = 2 if rows >= 1000 else 1  # rare n-grams are noise, unless the data is tiny
    return make_union(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=min_df),
                      TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=min_df))


def joined_texts(examples) -> list[str]:
    """A text and its pair as one string, for the classical baselines."""
    pairs = examples.get("text_pair")
    texts = examples.columns["text"]
    return [f"{a} || {b or ''}" for a, b in zip(texts, pairs)] if pairs else texts
