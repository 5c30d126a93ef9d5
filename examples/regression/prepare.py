"""Write the text-regression example: tweets rated for sentiment by about 20 people each, from -4
(extremely negative) to +4 (extremely positive), the ground truth of the VADER paper (Hutto & Gilbert,
ICWSM 2014), shipped in the vaderSentiment source archive that `make install` downloads.

    python examples/regression/prepare.py  ->  examples/regression/data/{train,eval,test}.csv

train is for fitting, eval picks the best checkpoint, test is never seen until `tailor eval`.
"""

from pathlib import Path

from tailor.data.shipped import vader_ratings, write_split

SIZES = {"train": 3000, "eval": 400, "test": 800}

if __name__ == "__main__":
    rows = vader_ratings("tweets")
    paths = write_split(rows, Path(__file__).parent / "data", SIZES, header=("text", "rating"))
    print(f"{len(rows):,} rated tweets; wrote " + ", ".join(f"{name} {SIZES[name]:,} ({path})"
                                                          for name, path in paths.items()))
