"""`tailor eval --robustness`: a run's headline metrics on the labelled file as it is and on changed
copies of it, labels unchanged: characters mistyped, words deleted, words replaced by synonyms
(data/text_augment.py's operations, seeded by the run's train.seed). The drop from the clean scores
shows how much a little noise costs a model, and what train.adversarial buys against it.

Synonyms come from WordNet where Debian's files are installed (a synonym shares a sense), else from
the model's own input embeddings (its nearest words, antonyms among them); the result says which.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Callable

from tailor.config import Config
from tailor.data.examples import Examples
from tailor.errors import ConfigError

# Result key -> text_augment.change() operation.
PERTURBATIONS = {"chars": "chars", "delete": "delete", "synonym": "synonym"}
TEXT_ROLES = ("text", "text_pair")  # the texts changed (both of a pair, each with its own draws)


def check_applies(task) -> None:
    """A label per text stays right when a few words change; a tag per word would not survive a deletion."""
    if task.targets != "classes" or task.processor_kind != "tokenizer":
        raise ConfigError(f"--robustness: for text-classification runs, whose one label per text stays right when "
                          f"a few words change; this is a {task.name} run")


def check_rate(rate: float) -> None:
    if not 0 < rate <= 1:
        raise ConfigError(f"--noise-rate {rate:g}: the share of each text's words to change, above 0 and at most 1, "
                          "e.g. 0.1")


def robustness(task, model, processor, examples: Examples, cfg: Config, batch_size: int, clean: dict,
               rate: float) -> dict:
    """{"rate", "synonyms": where they came from, "clean": the headline metrics of `clean` (the task's
    metrics on `examples` as they are), then for each of chars, delete and synonym: the same metrics
    on the changed copy and the share of texts it changed}. One copy is held at a time."""
    headline = [m.name for m in task.metrics if m.headline and m.name in clean]
    source, synonyms = synonym_source(examples, processor, model, cfg)
    result = {"rate": rate, "synonyms": source, "clean": {name: clean[name] for name in headline}}
    for key, op in PERTURBATIONS.items():
        changed = perturbed(examples, op, rate, cfg.train.seed, synonyms)
        scores = headline_scores(task, model, processor, changed, cfg, batch_size)
        result[key] = {**{name: scores[name] for name in headline}, "changed": changed_share(examples, changed)}
    return result


def headline_scores(task, model, processor, examples: Examples, cfg: Config, batch_size: int) -> dict:
    """A classifier's summary metrics straight from its answers: its full evaluate adds bootstrap
    intervals and calibration (seconds per call) that the comparison does not show."""
    from tailor.tasks.base import OneLabelPerInput

    if not isinstance(task, OneLabelPerInput):
        return task.evaluate(model, processor, examples, cfg, batch_size)
    from tailor.evaluation.classification import summary_metrics

    truth, probabilities, _ = task.scored(model, processor, examples, cfg, batch_size)
    return summary_metrics(truth, probabilities.argmax(-1))


def perturbed(examples: Examples, op: str, rate: float, seed: int, synonyms: Callable[[str], list[str]]) -> Examples:
    """A copy of `examples` with each text changed by `op` (seeded: the same copy every time)."""
    from tailor.data.text_augment import change

    columns = dict(examples.columns)
    for role in TEXT_ROLES:
        if examples.get(role) is not None:
            rng = random.Random(f"{seed}-{op}-{role}")
            columns[role] = [change(text, op, rate, rng, synonyms) for text in examples.columns[role]]
    return Examples(examples.path, columns, list(examples.where))


def changed_share(before: Examples, after: Examples) -> float:
    """The share of rows where some text differs (a text with no word a synonym is known for stays)."""
    rows = zip(*(zip(before.columns[r], after.columns[r]) for r in TEXT_ROLES if before.get(r) is not None))
    differs = [any(old != new for old, new in row) for row in rows]
    return round(sum(differs) / max(1, len(differs)), 4)


def synonym_source(examples: Examples, processor, model, cfg: Config) -> tuple[str, Callable[[str], list[str]]]:
    """("wordnet", its lookup) where the WordNet files are (the run's augment.wordnet_dir, else
    Debian's place), else ("embeddings", the nearest words in the model's input embeddings)."""
    from tailor.data.text_augment import embedding_synonyms, wordnet_synonyms, words_of

    augment = getattr(cfg.options, "augment", None)
    folder = getattr(augment, "wordnet_dir", None)
    try:
        return "wordnet", wordnet_synonyms(folder)
    except ConfigError:
        pass
    texts = [t for role in TEXT_ROLES for t in (examples.get(role) or [])]
    return "embeddings", embedding_synonyms(processor, _embedding_matrix(model, folder), words_of(texts))


def _embedding_matrix(model, wordnet_dir: Path | None):
    try:
        return model.get_input_embeddings().weight.detach()
    except AttributeError:  # an ONNX export's graph
        from tailor.data.text_augment import WORDNET_DIR

        raise ConfigError(f"--robustness: no WordNet database in {wordnet_dir or WORDNET_DIR} for the synonym swaps, "
                          "and this model's input embeddings are not at hand (an ONNX export); install Debian's "
                          "wordnet-base package, or evaluate the run folder") from None
