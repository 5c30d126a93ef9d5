"""Write the data of the tuning examples: 2,000 training tweets (a search runs many trials on them),
500 that pick checkpoints and trials, 1,000 that only the final model sees.

    python examples/tuning/prepare.py  ->  examples/tuning/data/{train,eval,test}.csv
"""

from pathlib import Path

from tailor.data.shipped import sentiment_tweets, write_split

SIZES = {"train": 2000, "eval": 500, "test": 1000}

if __name__ == "__main__":
    paths = write_split(sentiment_tweets(), Path(__file__).parent / "data", SIZES, seed=21)
    print("wrote " + ", ".join(f"{name} {SIZES[name]:,} ({path})" for name, path in paths.items()))
