"""Dates as people and programs write them, each with the same date in ISO 8601: a rewriting task.

The strings are rendered by Babel from the Unicode CLDR, the locale data behind ICU, Java, browsers
and operating systems: each date in the medium, long and full formats of ten locales (English US and
UK, German, French, Spanish, Italian, Dutch, Brazilian Portuguese, Chinese, Japanese), e.g.
"Dec 7, 2026", "7. Dezember 2026", "lunes, 7 de diciembre de 2026", "2026年12月7日星期一". The short
formats are left out: "07/12/26" is a different date in the US and in the UK, and its century is a guess.

Dates are drawn uniformly from 1950-2049 (seed 0), and split by date: no date of the evaluation or test
files appears in training, in any format. Writes data/{train,eval,test}.jsonl with "source" and
"target"; the files are committed, so this script (and Babel: pip install babel) is only needed to
make them again.
"""

from __future__ import annotations

import datetime
import json
import random
from pathlib import Path

from babel.dates import format_date

LOCALES = ["en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "pt_BR", "zh_CN", "ja_JP"]
FORMATS = ["medium", "long", "full"]
SIZES = {"train": 1500, "eval": 200, "test": 300}


def main() -> None:
    rng = random.Random(0)
    first, last = datetime.date(1950, 1, 1).toordinal(), datetime.date(2049, 12, 31).toordinal()
    dates = rng.sample(range(first, last + 1), sum(SIZES.values()))
    out = Path(__file__).parent / "data"
    out.mkdir(exist_ok=True)
    start = 0
    for split, size in SIZES.items():
        rows = []
        for ordinal in dates[start:start + size]:
            date = datetime.date.fromordinal(ordinal)
            written = format_date(date, rng.choice(FORMATS), locale=rng.choice(LOCALES))
            rows.append({"source": written, "target": date.isoformat()})
        start += size
        (out / f"{split}.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                                            encoding="utf-8")
        print(f"data/{split}.jsonl: {len(rows)} dates")


if __name__ == "__main__":
    main()
