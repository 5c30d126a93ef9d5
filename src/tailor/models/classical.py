"""A classical text classifier (TF-IDF + logistic regression) as a run's model, where it beat every
model that could be fine-tuned here (`model: auto`; e.g. Chinese reviews, which the embedded English
encoder cannot read and the small LM reads slowly).

Saved with skops, scikit-learn's secure format: loading it rebuilds only scikit-learn and numpy types
that skops trusts, and refuses anything else (unlike pickle, which runs whatever the file says).
The folder: `classical.skops` (the fitted pipeline) and `config.json` (the labels, and what it is).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

CLASSICAL_FILE = "classical.skops"
KIND = "tfidf-logistic-regression"


@dataclass
class _Config:
    """What the tasks read of a model's config: its labels."""

    id2label: dict[int, str]
    label2id: dict[str, int] = field(init=False)

    def __post_init__(self):
        self.label2id = {label: i for i, label in self.id2label.items()}

    @property
    def num_labels(self) -> int:
        return len(self.id2label)


class ClassicalTextModel:
    """Class probabilities of examples from a fitted scikit-learn pipeline, its classes the run's labels;
    `texts(examples)` is what it reads of them (default: a text and its pair, joined)."""

    def __init__(self, pipeline, labels: list[str], description: str, texts=None):
        from tailor.evaluation.classification import joined_texts

        self.pipeline, self.description, self.texts = pipeline, description, texts or joined_texts
        self.config = _Config(dict(enumerate(labels)))

    def probabilities(self, examples, *, log: bool = False) -> np.ndarray:
        result = np.zeros((len(examples), len(self.config.id2label)))
        result[:, self.pipeline.classes_] = self.pipeline.predict_proba(self.texts(examples))
        return np.log(np.clip(result, 1e-12, None)) if log else result

    def save(self, folder: Path) -> None:
        import skops.io

        folder.mkdir(parents=True, exist_ok=True)
        skops.io.dump(self.pipeline, folder / CLASSICAL_FILE)
        config = {"model_type": KIND, "description": self.description,
                  "id2label": {str(i): label for i, label in self.config.id2label.items()}}
        (folder / "config.json").write_text(json.dumps(config, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> "ClassicalTextModel":
        import skops.io

        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        pipeline = skops.io.load(folder / CLASSICAL_FILE)  # only types skops trusts; anything else is refused
        labels = [config["id2label"][str(i)] for i in range(len(config["id2label"]))]
        return cls(pipeline, labels, config["description"])


def is_classical(folder: str | Path) -> bool:
    return (Path(folder) / CLASSICAL_FILE).is_file()


def fit_classical(train, labels: list[str], seed: int, texts=None) -> ClassicalTextModel:
    """TF-IDF word 1-2-grams + char 2-5-grams with logistic regression, fitted on the training examples."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from tailor.evaluation.classification import tfidf_features

    model = ClassicalTextModel(None, labels, "TF-IDF (word 1-2 + char 2-5 grams) + logistic regression", texts)
    pipeline = make_pipeline(tfidf_features(len(train)), LogisticRegression(max_iter=2000, C=4.0, random_state=seed))
    label2id = {label: i for i, label in enumerate(labels)}
    model.pipeline = pipeline.fit(model.texts(train), [label2id[label] for label in train.columns["label"]])
    return model
