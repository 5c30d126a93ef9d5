"""`tailor eval --robustness` (evaluation/robustness.py): clean scores beside those on copies of the file
with characters mistyped, words deleted and words swapped for synonyms, labels unchanged."""

import json

import pytest

import tailor
from conftest import sentiment_rows
from tailor.data import text_augment
from tailor.data.examples import Examples
from tailor.errors import ConfigError
from tailor.evaluation.robustness import check_applies, perturbed
from tailor.tasks import get_task

SYNONYMS = {"movie": ["film"], "wonderful": ["marvelous"], "awful": ["dreadful"], "food": ["meal"],
            "really": ["truly"], "happy": ["glad"], "sad": ["unhappy"], "trip": ["journey"]}
KEYS = {"rate", "synonyms", "clean", "chars", "delete", "synonym"}


@pytest.fixture
def small_wordnet(monkeypatch):
    """Stands in for Debian's WordNet files (their reading is tested in test_augment.py)."""
    folders = []
    monkeypatch.setattr(text_augment, "wordnet_synonyms",
                        lambda folder: folders.append(folder) or (lambda word: SYNONYMS.get(word, [])))
    return folders


def _examples(n=40, seed=2):
    rows = sentiment_rows(n, seed=seed)
    return Examples("eval.csv", {"text": [r["text"] for r in rows], "label": [r["label"] for r in rows]},
                    [f"line {i + 2}" for i in range(n)])


@pytest.mark.parametrize("op", ["chars", "delete", "synonym"])
def test_a_changed_copy_keeps_the_labels_and_is_the_same_for_a_seed(op):
    examples = _examples()
    copy = perturbed(examples, op, 0.1, seed=7, synonyms=lambda word: SYNONYMS.get(word, []))
    assert copy.columns["label"] == examples.columns["label"] and copy.where == examples.where
    assert copy.columns["text"] == perturbed(examples, op, 0.1, 7, lambda w: SYNONYMS.get(w, [])).columns["text"]
    assert copy.columns["text"] != perturbed(examples, op, 0.1, 8, lambda w: SYNONYMS.get(w, [])).columns["text"]
    pairs = list(zip(examples.columns["text"], copy.columns["text"]))
    changed = [(old, new) for old, new in pairs if old != new]
    assert len(changed) >= 10
    for old, new in changed:
        if op == "delete":  # words dropped, the others kept in order
            kept = iter(old.split())
            assert len(new.split()) < len(old.split()) and all(word in kept for word in new.split())
        elif op == "synonym":
            assert [(a, b) for a, b in zip(old.split(), new.split()) if a != b] in (
                [(word, synonyms[0])] for word, synonyms in SYNONYMS.items())
        else:  # one word mistyped (at most 10 words, at rate 0.1)
            assert len([1 for a, b in zip(old.split(), new.split()) if a != b]) == 1


def test_eval_robustness_reports_clean_and_changed_scores(make_config, cli, tmp_path, small_wordnet):
    assert cli("train", make_config(train={"epochs": 3, "seed": 5}))[0] == 0
    code, out, err = cli("eval", "runs/config", "--data", "eval.csv", "--robustness", "--noise-rate", "0.2",
                         "--output", "m.json")
    assert code == 0, err
    metrics = json.loads((tmp_path / "m.json").read_text())
    result = metrics["robustness"]
    assert set(result) == KEYS and result["rate"] == 0.2 and result["synonyms"] == "wordnet"
    assert result["clean"] == {"f1_macro": metrics["f1_macro"], "accuracy": metrics["accuracy"]}
    for key in ("chars", "delete", "synonym"):
        assert set(result[key]) == {"f1_macro", "accuracy", "changed"} and 0.25 <= result[key]["changed"] <= 1
    assert small_wordnet == [None]  # the run's text_classification.augment.wordnet_dir: Debian's place

    lines = out[out.index("robustness:"):].splitlines()
    assert lines[0] == "robustness: about 20% of each text's words changed (at least one); synonyms from wordnet"
    assert lines[1].split() == ["f1_macro", "accuracy", "texts", "changed"]
    clean = result["clean"]
    assert lines[2].split() == ["clean", f"{clean['f1_macro']:.4f}", f"{clean['accuracy']:.4f}"]
    for line, key in zip(lines[3:], ("chars", "delete", "synonym")):
        scores = result[key]
        assert line.split() == [key, f"{scores['f1_macro']:.4f}", f"({scores['f1_macro'] - clean['f1_macro']:+.4f})",
                                f"{scores['accuracy']:.4f}", f"({scores['accuracy'] - clean['accuracy']:+.4f})",
                                f"{scores['changed']:.0%}"]
    assert len(lines) == 6

    again = tailor.evaluate("runs/config", "eval.csv", robustness=True, noise_rate=0.2)["robustness"]
    assert again == result  # seeded by the run's train.seed


def test_without_wordnet_synonyms_come_from_the_model_embeddings(make_config, cli, monkeypatch):
    assert cli("train", make_config(train={"epochs": 1}))[0] == 0

    def no_wordnet(folder):
        raise ConfigError("no WordNet")

    monkeypatch.setattr(text_augment, "wordnet_synonyms", no_wordnet)
    result = tailor.evaluate("runs/config", "eval.csv", robustness=True)["robustness"]
    assert result["synonyms"] == "embeddings" and result["rate"] == 0.1 and result["synonym"]["changed"] > 0.5


def test_robustness_is_refused_where_labels_would_not_survive_the_changes():
    with pytest.raises(ConfigError) as error:
        check_applies(get_task("token-classification"))
    assert str(error.value) == ("--robustness: for text-classification runs, whose one label per text stays right "
                                "when a few words change; this is a token-classification run")
    check_applies(get_task("text-classification"))


def test_a_noise_rate_outside_0_to_1_is_a_one_line_error(cli, tmp_path):
    code, _, err = cli("eval", tmp_path, "--data", "eval.csv", "--robustness", "--noise-rate", "0")
    assert code == 2 and err == ("error: --noise-rate 0: the share of each text's words to change, above 0 and at "
                                 "most 1, e.g. 0.1\n")
