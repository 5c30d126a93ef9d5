"""Text-to-text examples: an input text and the output text a model should write for it.

Two layouts, told apart by the config (or by the rows when it does not say):
  columns      {"source": ..., "target": ...}       any table format; names set by data.source / data.target
  translation  {"translation": {"en": ..., "de": ...}}   (the Hugging Face `datasets` shape of WMT, OPUS ...),
               with data.source_lang / data.target_lang naming the two keys
Every example becomes the roles "source" and "target" (the target is optional in a file of inputs to answer).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from tailor.data.examples import Examples, select_fields
from tailor.data.readers import Table, read_table
from tailor.errors import DataError

TRANSLATION = "translation"


def read_text_pairs(path: Path, cfg, *, targets: bool = True, split: str = "train") -> Examples:
    """Validated source/target pairs from one file (or sources alone, with targets=False)."""
    table = read_table(path, encoding=cfg.data.encoding, split=split)
    if _is_translation_layout(table, cfg):
        examples = _from_translations(table, cfg, targets)
        examples.notes.append(f"{Path(path).name}: translation rows, {cfg.data.source_lang} -> "
                              f"{cfg.data.target_lang}, {len(examples):,} examples")
        return examples
    return _from_columns(table, cfg, targets)


def text_pairs_from_rows(rows: list[dict], cfg, source: str) -> Examples:
    """Inputs given directly (a server request): objects with data.source (and optionally data.target)."""
    table = Table(Path(source), list(dict.fromkeys(k for row in rows for k in row)), rows,
                  [f"input {i + 1}" for i in range(len(rows))])
    return _from_columns(table, cfg, targets=False)


def _is_translation_layout(table: Table, cfg) -> bool:
    if cfg.data.source_lang or cfg.data.target_lang:
        return True
    first = table.rows[0]
    return isinstance(first.get(TRANSLATION), dict) and cfg.data.source not in first


def _from_columns(table: Table, cfg, targets: bool) -> Examples:
    from tailor.tasks.base import Field

    fields = [Field("source", cfg.data.source, "data.source")]
    if targets or cfg.data.target in table.columns:  # a file of inputs may carry references: they are scored
        fields.append(Field("target", cfg.data.target, "data.target"))
    return select_fields(table, fields, cfg.data.on_invalid)


def _from_translations(table: Table, cfg, targets: bool) -> Examples:
    source_lang, target_lang = cfg.data.source_lang, cfg.data.target_lang
    if not (source_lang and target_lang):
        found = _languages(table)
        raise DataError(table.path, "rows shaped {\"translation\": {...}} need both languages named",
                        f"Set data.source_lang and data.target_lang to two of: {', '.join(found) or '(none found)'}",
                        field=TRANSLATION)
    columns = {"source": [], "target": []}
    where, skipped = [], Counter()
    wanted = [("source", source_lang, True), ("target", target_lang, targets)]
    for row, location in zip(table.rows, table.where):
        pair = row.get(TRANSLATION)
        if not isinstance(pair, dict):
            raise DataError(table.path, f"expected an object of texts by language, got {_kind(pair)}",
                            'Write each row as {"translation": {"en": "...", "de": "..."}}', where=location,
                            field=TRANSLATION)
        values, problem = {}, None
        for role, lang, required in wanted:
            text = pair.get(lang)
            if isinstance(text, str) and text.strip():
                values[role] = text
            elif required or text is not None:
                problem = (f"translation.{lang}", "missing" if lang not in pair else "the text is empty", pair)
                break
        if problem:
            key, reason, pair = problem
            if cfg.data.on_invalid == "skip":
                skipped[f"{reason} in '{key}'"] += 1
                continue
            there = ", ".join(sorted(pair)) or "none"
            raise DataError(table.path, f"{reason} (languages in this row: {there})",
                            "Fill it in or remove the row (or set data.on_invalid=skip to skip such rows); "
                            "data.source_lang / data.target_lang name the keys", where=location, field=key)
        for role in ("source", "target"):
            if role in values:
                columns[role].append(values[role])
        where.append(location)
    if not where:
        raise DataError(table.path, f"every row was skipped ({sum(skipped.values())} without both texts)",
                        "Check data.source_lang and data.target_lang")
    if not columns["target"] or len(columns["target"]) != len(where):
        del columns["target"]
    return Examples(table.path, columns, where, skipped)


def _languages(table: Table) -> list[str]:
    seen: dict[str, None] = {}
    for row in table.rows[:100]:
        if isinstance(row.get(TRANSLATION), dict):
            seen.update(dict.fromkeys(row[TRANSLATION]))
    return list(seen)


def _kind(value) -> str:
    return "null" if value is None else type(value).__name__
