"""Readers per file format -> a Table of rows that remembers where each row came from.

A reader never knows a model or a task; it only turns bytes into rows, and bad bytes into a
DataError that names the file, the line and what to do.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

from tailor.errors import DataError

FORMATS = ".csv .tsv .jsonl .json .parquet, or a `datasets` folder saved with save_to_disk"


@dataclass
class Table:
    """Rows read from one file; `where[i]` locates row i for error messages ("line 12", "row 3")."""

    path: Path
    columns: list[str]
    rows: list[dict]
    where: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.rows)


def read_table(path: str | Path, *, encoding: str = "utf-8", split: str = "train") -> Table:
    """Read any supported format. `split` picks the split of a saved DatasetDict folder."""
    path = Path(path)
    if not path.exists():
        raise DataError(path, "file not found", suggest_sibling(path))
    if path.is_dir():
        return _read_datasets_folder(path, split)
    if path.stat().st_size == 0:
        raise DataError(path, "the file is empty", "Give a file with a header and at least a few labelled rows")
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        raise DataError(path, f"unsupported file type '{path.suffix or '(no extension)'}'",
                        f"Use one of: {FORMATS} (from a spreadsheet, export as CSV)")
    table = reader(path, encoding)
    if not table.rows:
        raise DataError(path, "the file has no data rows", "Add labelled examples below the header")
    return table


def decode_text(path: Path, encoding: str) -> str:
    raw = path.read_bytes()
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        hint = "latin-1" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else "utf-8"
        raise DataError(path, f"byte 0x{raw[exc.start]:02x} is not valid {encoding}",
                        f"Set data.encoding to the file's encoding (e.g. data.encoding={hint} or cp1252), "
                        "or re-save the file as UTF-8", where=f"line {line}") from exc
    except LookupError as exc:
        raise DataError(path, f"unknown encoding '{encoding}'", "Set data.encoding to e.g. utf-8 or latin-1") from exc
    return text.removeprefix("\ufeff")  # a byte-order mark would glue itself to the first column name


def _read_delimited(path: Path, encoding: str) -> Table:
    text = decode_text(path, encoding)
    delimiter = "\t" if path.suffix.lower() == ".tsv" else _sniff_delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise DataError(path, "the file is empty", "Give a header line and labelled rows") from None
    header = [name.strip() for name in header]
    _check_header(path, header)
    rows, where = [], []
    line = reader.line_num + 1
    try:
        for record in reader:
            if record:  # a blank line is not a row
                if len(record) != len(header):
                    raise DataError(path, f"has {len(record)} fields but the header has {len(header)}",
                                    "Quote fields that contain the delimiter or line breaks", where=f"line {line}")
                rows.append(dict(zip(header, record)))
                where.append(f"line {line}")
            line = reader.line_num + 1
    except csv.Error as exc:
        raise DataError(path, f"malformed CSV ({exc})", "Check the quoting on that line", where=f"line {line}") from exc
    return Table(path, header, rows, where)


def _sniff_delimiter(text: str) -> str:
    first = text.split("\n", 1)[0]
    return max([",", ";", "\t", "|"], key=first.count) if any(d in first for d in ",;\t|") else ","


def _check_header(path: Path, header: list[str]) -> None:
    seen = set()
    for name in header:
        if not name:
            raise DataError(path, "the header has an empty column name", "Name every column in the first line",
                            where="line 1")
        if name in seen:
            raise DataError(path, f"the header repeats the column name '{name}'", "Give every column its own name",
                            where="line 1")
        seen.add(name)


def read_jsonl(path: Path, encoding: str) -> Table:
    rows, where, columns = [], [], {}
    for number, line in enumerate(decode_text(path, encoding).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(path, f"malformed JSON ({exc.msg} at column {exc.colno})",
                            "Each line must be one complete JSON object", where=f"line {number}") from exc
        if not isinstance(obj, dict):
            raise DataError(path, f"expected a JSON object, got {type(obj).__name__}",
                            'Write each line as {"text": ..., "label": ...}', where=f"line {number}")
        rows.append(obj)
        where.append(f"line {number}")
        columns.update(dict.fromkeys(obj))
    return Table(path, list(columns), rows, where)


def _read_json(path: Path, encoding: str) -> Table:
    text = decode_text(path, encoding)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        fix = "Fix the JSON syntax"
        if exc.msg == "Extra data":
            fix = "This looks like one object per line: rename the file to .jsonl"
        raise DataError(path, f"malformed JSON ({exc.msg} at column {exc.colno})", fix,
                        where=f"line {exc.lineno}") from exc
    if not isinstance(data, list):
        raise DataError(path, f"expected a JSON list of objects, got a {type(data).__name__}",
                        'Write the file as [{"text": ..., "label": ...}, ...]')
    columns = {}
    for index, obj in enumerate(data):
        if not isinstance(obj, dict):
            raise DataError(path, f"item {index + 1} of the list is a {type(obj).__name__}, not an object",
                            'Write every item as {"text": ..., "label": ...}')
        columns.update(dict.fromkeys(obj))
    return Table(path, list(columns), data, [f"item {i + 1}" for i in range(len(data))])


def _read_parquet(path: Path, encoding: str) -> Table:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for a non-Parquet file
        raise DataError(path, f"not a readable Parquet file ({exc})",
                        "Check the file type, or give the data as CSV or JSONL") from exc
    return _from_records(path, table.column_names, table.to_pylist())


def _read_datasets_folder(path: Path, split: str) -> Table:
    if not (path / "dataset_info.json").exists() and not (path / "dataset_dict.json").exists():
        raise DataError(path, "is a folder but not a `datasets` folder saved with save_to_disk",
                        f"Point to a file ({FORMATS})")
    from datasets import DatasetDict, load_from_disk

    loaded = load_from_disk(str(path))
    if isinstance(loaded, DatasetDict):
        wanted = [split] if split == "train" else [split, "validation", "test"]
        name = next((s for s in wanted if s in loaded), None)
        if name is None:
            raise DataError(path, f"has splits {list(loaded)} but none named {' or '.join(wanted)}",
                            "Save the split you want under that name, or point to it directly")
        loaded = loaded[name]
    return _from_records(path, list(loaded.column_names), loaded.to_list())


def _from_records(path: Path, columns: list[str], rows: list[dict]) -> Table:
    return Table(path, columns, rows, [f"row {i + 1}" for i in range(len(rows))])


def suggest_sibling(path: Path) -> str:
    folder = path.parent if path.parent.exists() else None
    if folder is None:
        return f"The folder {path.parent} does not exist either; check the path (relative paths in a config " \
               "file are relative to that file)"
    names = [p.name for p in folder.iterdir()]
    close = difflib.get_close_matches(path.name, names, n=1, cutoff=0.6)
    if close:
        return f"Did you mean {folder / close[0]}?"
    return "Check the path (relative paths in a config file are relative to that file)"


_READERS = {
    ".csv": _read_delimited,
    ".tsv": _read_delimited,
    ".jsonl": read_jsonl,
    ".ndjson": read_jsonl,
    ".json": _read_json,
    ".parquet": _read_parquet,
}
