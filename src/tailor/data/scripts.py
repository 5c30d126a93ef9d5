"""Writing systems without spaces between words: Chinese and Japanese.

Text tools built for English split words at spaces; a Chinese sentence then is one "word". Scorers that
compare words (BLEU, ROUGE, SQuAD's F1) count each CJK character as a word instead, as the field's own
scorers for these languages do (sacrebleu's zh tokenizer, CMRC 2018's F1).
"""

from __future__ import annotations

import re

# Hiragana, Katakana (and its extension), Han (extension A, the main block, compatibility ideographs,
# extensions B onwards). Hangul is left out: Korean writes spaces between words.
CJK_CHARACTERS = "\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
# CJK symbols and punctuation (、。「」...) and the full-width forms of ASCII punctuation (，！？：；...).
CJK_PUNCTUATION = "\u3000-\u303f\uff00-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65"
_CJK = re.compile(f"[{CJK_CHARACTERS}{CJK_PUNCTUATION}]")
_ONE_CJK_CHARACTER = re.compile(f"([{CJK_CHARACTERS}])")


def has_cjk(text: str) -> bool:
    return bool(_CJK.search(text))


def split_cjk(text: str) -> str:
    """The text with a space around every CJK character, so that splitting at spaces makes each one a word."""
    return _ONE_CJK_CHARACTER.sub(r" \1 ", text)
