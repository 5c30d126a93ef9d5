"""Question generation for the question-answering example: SQuAD v2.0-style questions (answerable ones with an
exact span of the context as answer, unanswerable ones about the context's own subjects) made from docstring
text by patterns (PATTERNS), then deduplicated (build_questions)."""

import re
from collections import defaultdict

MAX_ANSWER_WORDS = 15

# Exceptions an unanswerable question may ask about: always the generic two, others where the text is about their topic.
EXCEPTIONS = {"ValueError": r"", "TypeError": r"", "OSError": r"\b(?:file|path|director|socket|descriptor)",
              "FileNotFoundError": r"\b(?:file|path|director)", "PermissionError": r"\b(?:file|path|permission|mode)",
              "KeyError": r"\b(?:key|dict|mapping|section|header)", "IndexError": r"\b(?:index|position|sequence|list)",
              "RuntimeError": r"\b(?:thread|lock|state|loop|started)",
              "OverflowError": r"\b(?:integers?|int|large|range)\b",
              "UnicodeDecodeError": r"\b(?:decod|encoding|bytes)", "AttributeError": r"\b(?:attribute|object)"}
EXCEPTION_NAME = r"`?([A-Z]\w*(?:Error|Exception|Warning|Exit)|Empty|Full|error_\w+)`?"
VERBS = set("""add apply build calculate call check clear close compare compile compute construct convert copy count
create decode define delete encode execute extract find format generate get handle initialize insert load make
mark open parse perform implement print process read register remove render replace represent reset retrieve return run
save search send set start stop store test translate update wait write yield""".split())
PROCEDURE_VERBS = set("""clear close flush mark print register reset send set start stop wait write acquire release
join shutdown""".split())
BAD_END = set("a an the of to and or with for in on by is are as that which be not from into than its their".split())
ANAPHORA = re.compile(r"(?i)\b(?:this|these|those|it|its|they|them|such|so|above|below|former|latter)\b")
BAD_COND_START = ("it ", "this ", "that ", "they ", "there ", "so ", "not ", "such ", "these ", "those ", "one ")
FINITE_VERB = re.compile(r"\b(?:is|are|was|were|represents?|provides?|can|will|may|should|must|does|do|has|have|"
                         r"allows?|contains?|implements?|supports?)\b")
ABBREVIATIONS = ("e.g", "i.e", "etc", "vs", "cf", "approx", "Mr", "No")
RELATIONS = {"equivalent": "equivalent to", "similar": "similar to", "identical": "identical to",
             "shorthand": "shorthand for", "alias": "an alias for", "same": "the same as"}

# Wordings per pattern: {s} subject, {p} parameter, {e} exception, {c} condition, {t} term, {r} relation, {x} other.
PATTERNS = {
    "returns": ["What does {s} return?", "What is returned by {s}?", "What do you get back from {s}?"],
    "returns_true": ["When does {s} return True?", "Under what condition does {s} return True?",
                     "In which case does {s} return True?"],
    "raises_when": ["When does {s} raise {e}?", "Under what circumstances does {s} raise {e}?",
                    "In which case does {s} raise {e}?"],
    "raises_which": ["Which exception does {s} raise {c}?", "What error does {s} raise {c}?"],
    "raised_when": ["When is {s} raised?", "What situation causes {s} to be raised?", "In what case is {s} raised?"],
    "default_value": ["What is the default value of {p} in {s}?", "What does the {p} argument of {s} default to?",
                      "If {p} is not passed to {s}, what value does it take?"],
    "if_then": ["In {s}, what happens if {c}?", "What happens in {s} if {c}?", "If {c}, what happens in {s}?"],
    "by_default": ["What happens by default in {s}?", "What is the default behaviour of {s}?"],
    "same_as": ["What is {s} {r}?", "According to its documentation, {s} is {r} what?"],
    "like_which": ["Which function is {s} like?", "What is {s} compared to in its documentation?"],
    "like_differ": ["How does {s} differ from {x}?", "What is the difference between {s} and {x}?"],
    "definition": ["What is {s}?", "What kind of object is {s}?", "How is {s} described?"],
    "module_purpose": ["What is the {s} module?", "What does the {s} module provide?",
                       "How does its docstring describe the {s} module?"],
    "module_does": ["What does the {s} module do?", "What is the {s} module used for?"],
    "must_be": ["What must {p} be in {s}?", "In {s}, what is required of {p}?", "What does {s} require {p} to be?"],
    "term": ["What is {t} in {s}?", "What does {t} mean for {s}?", "In {s}, what does {t} refer to?"],
    "param": ["What is the {t} parameter of {s}?", "What does the {t} argument of {s} mean?",
              "What is {t} used for in {s}?"],
    "summary": ["What does {t} do, according to the {s} module?", "In the {s} module, what does {t} do?"],
    "option": ["What does the {t} option of {s} do?", "What is the {t} flag of {s} for?"],
}


class Candidate:
    def __init__(self, kind, question, start=None, text=None, plausible=None, entry=None, extra=None, key=None):
        self.kind, self.question, self.start, self.text = kind, question, start, text
        self.key = key  # what is asked, whatever the wording: two answers to one key make both ambiguous
        self.plausible = plausible  # (start, text) of a wrong but plausible span, for some unanswerable questions
        self.entry, self.extra = entry, extra or {}

    @property
    def impossible(self):
        return self.text is None


# ----------------------------------------------------------------------------------------------- text helpers
def sentences(context, start, end):
    """(start, end) of the prose sentences in context[start:end]; code and doctest paragraphs are skipped."""
    out = []
    for paragraph in re.finditer(r"(?:[^\n]|\n(?![ \t]*\n))+", context[start:end]):
        text, base = paragraph.group(), start + paragraph.start()
        lines = text.split("\n")
        if any(line.lstrip().startswith((">>>", "... ", "$ ")) for line in lines) or \
                sum(line.startswith("    ") for line in lines) * 2 > len(lines):
            continue
        first = 0
        for match in re.finditer(r"[.!?](?=\s|$)", text):
            word = re.search(r"[\w.]*$", text[:match.start()]).group()
            after = text[match.end():].lstrip()
            if word.endswith(ABBREVIATIONS) and len(word) < 7:
                continue
            if after and not re.match(r"[A-Z*`\"'(]", after):
                continue
            out.append((base + first, base + match.end()))
            first = len(text) - len(after)
        if len(text) - first > 20:
            out.append((base + first, base + len(text)))
    return out


def balanced(text):
    return (text.count("(") == text.count(")") and text.count("[") == text.count("]") and
            text.count("{") == text.count("}") and text.count("`") % 2 == 0 and text.count('"') % 2 == 0)


def span(context, start, end, max_words=MAX_ANSWER_WORDS, min_words=1, cut=(", ", "; ", " -- ", " (", ": "),
         trim=(), whole=False):
    """context[start:end] as a whole phrase of min_words..max_words words: (start, text), or None. Too long, it is
    cut at the first `cut` marker that leaves a clean phrase of 3 words or more (`whole`: never cut); a `trim`
    marker always cuts."""
    for marker in trim:
        position = context.find(marker, start, end)
        end = position if position > start else end
    while end > start and context[end - 1] in " \t\n.,;:":
        end -= 1
    while start < end and context[start] in " \t\n":
        start += 1
    if context[start:end].endswith(" etc"):
        end -= 4
    text = context[start:end]
    if len(text.split()) > max_words:
        if whole:
            return None
        best = None
        for marker in cut:
            position = text.find(marker)
            while position > 0 and len(text[:position].split()) <= max_words:
                if len(text[:position].split()) >= max(min_words, 3) and balanced(text[:position]) and \
                        text[:position].split()[-1].lower() not in BAD_END:
                    best = position if best is None else min(best, position)
                    break
                position = text.find(marker, position + 1)
        if best is None:
            return None
        end = start + best
        text = context[start:end]
    words = text.split()
    if not (min_words <= len(words) <= max_words) or not balanced(text) or words[-1].lower() in BAD_END:
        return None
    if text.endswith((":", ",", "(", "=", "-")) or ">>>" in text or text.count("'") % 2 and "'s" not in text:
        return None
    return start, text


def plain(text):
    """Docstring text copied into a question: markup off, on one line."""
    text = re.sub(r"\*\*?([\w.]+)\*\*?", r"\1", text)
    text = re.sub(r"``([^`]+)``|`([^`']+)[`']", lambda m: m.group(1) or m.group(2), text)
    return re.sub(r"\s+", " ", text).strip()


def mentions(text, word):
    return re.search(r"(?<![\w-])" + re.escape(word) + r"(?![\w-])", text) is not None


def article(name):
    """'an' or 'a' as the name is spoken: an FTP, a Counter, an OrderedDict."""
    if re.match(r"[A-Z]{2}", name):
        return "an" if name[0] in "AEFHILMNORSX" else "a"
    if name.lower().startswith(("uni", "use", "usu", "uti", "eu", "one")):
        return "a"
    return "an" if name[0].lower() in "aeiou" else "a"


def subject(entry, rng):
    if entry.kind in ("function", "method"):
        return entry.name + ("()" if rng.random() < 0.4 else "")
    return entry.name


def ask(kind, rng, **fields):
    question = re.sub(r"\s+", " ", rng.choice(PATTERNS[kind]).format(**fields)).strip()
    return question[0].upper() + question[1:]


def key(kind, **fields):
    return (kind,) + tuple(sorted((name, normalize(str(value))) for name, value in fields.items()))


# ----------------------------------------------------------------------------------------------- patterns
def answerable_candidates(context, entry, start, end, first_piece, rng):
    """Questions that context[start:end], the docstring (piece) of `entry`, answers with a span."""
    out = []
    s = subject(entry, rng)
    callable_kinds = ("function", "method", "class")

    def add(kind, found, **fields):
        if found:
            extra = fields.pop("extra", None)
            out.append(Candidate(kind, ask(kind, rng, **fields), *found, entry=entry, extra=extra,
                                 key=key(kind, **fields)))

    said_return = False  # only the first sentence about the return value answers "what does it return?"
    for a, b in sentences(context, start, end):
        sentence = context[a:b]
        earlier, said_return = said_return, said_return or re.search(r"(?i)\breturn", sentence) is not None
        if match := re.match(r"(?:This (?:function|method) )?Returns? (?!(?:the )?(?:result|value) of\b)", sentence):
            rest = a + match.end()
            if match2 := re.match(r"(?:True|true) (?:if and only if|if|when|iff) ", context[rest:b]):
                add("returns_true", span(context, rest + match2.end(), b, trim=(
                    "; ", ", and False", " and False", ", False", " or False", ", otherwise", ", else")), s=s)
            elif entry.kind in ("function", "method") and not earlier:
                add("returns", span(context, rest, b), s=s)
        for pattern in (r"\b(?:[Rr]aises?|will raise|should raise|may raise)\s+(?:an?\s+|the\s+)?" + EXCEPTION_NAME +
                        r"(?:\s+exception)?\s+(if|when|unless)\s",
                        r"\b(?:an? |the )?" + EXCEPTION_NAME + r"(?: exception)?\s+(?:is|will be)\s+raised\s+"
                                                               r"(if|when|unless)\s"):
            if (match := re.search(pattern, sentence)) and entry.kind in callable_kinds:
                found = span(context, a + match.start(2), b)
                if found and len(found[1].split()) >= 3:
                    add("raises_when", found, s=s, e=match.group(1))
                    if not context[found[0] + len(found[1]):b].strip(" .\n") and not ANAPHORA.search(found[1]):
                        add("raises_which", (a + match.start(1), match.group(1)), s=s, c=plain(found[1]))
        if entry.kind == "exception" and (match := re.match(
                r"(?:This exception is |An? exception |Exception )?[Rr]aised ((?:when|if|by|on|for) )", sentence)):
            add("raised_when", span(context, a + match.start(1), b, min_words=3), s=entry.name)
        if match := re.match(r"If ([^,;:]+?),(?: then)? ", sentence):
            condition = match.group(1)
            if 3 <= len(condition.split()) <= 14 and not condition.lower().startswith(BAD_COND_START) \
                    and balanced(condition) and not ANAPHORA.search(condition):
                found = span(context, a + match.end(), b, min_words=2, cut=(", but ", ", and ", ", unless", " -- "),
                             trim=("; ", ", otherwise", " otherwise"))
                if found and not found[1].lower().startswith(("otherwise", "else", "the default")):
                    param = re.match(r"[*`]*(\w+)[*`']* (?:is|are|was) ", condition)
                    add("if_then", found, s=s, c=plain(condition[0].lower() + condition[1:]),
                        extra={"condition": condition, "param": param and param.group(1)})
                    raised = re.match(r"(?:raises?\s+|an?\s+)?" + EXCEPTION_NAME + r"?(?:\s+(?:is|will be)\s+raised)?$",
                                      found[1])
                    if raised and raised.group(1) and entry.kind in callable_kinds and "raise" in found[1]:
                        add("raises_when", (a, "If " + condition), s=s, e=raised.group(1))
        if match := re.match(r"By default,? ", sentence):
            setting = re.match(r"[*`]*(\w+)[*`']* (?:is|are) ", context[a + match.end():b])
            if setting and setting.group(1) in entry.arguments:
                add("default_value", span(context, a + match.end() + setting.end(), b, max_words=6, whole=True),
                    s=s, p=setting.group(1))
                continue
            found = span(context, a + match.end(), b, min_words=2, cut=("; ", ", but ", ", and ", " -- "))
            if found and not found[1].lower().startswith(("this", "it ", "the default")):
                add("by_default", found, s=s)
        if match := re.match(r"(?:(?:This|It|This (?:function|method|class)) is )?"
                             r"(?:(?i:roughly|essentially|exactly) )?"
                             r"(equivalent|[Ii]dentical|[Ss]horthand|[Aa]lias|[Ss]ynonym) (?:to|for):?\s+", sentence):
            if not re.match(r"(?i:calling|the following|this|that)\b", context[a + match.end():b]):
                found = span(context, a + match.end(), b, max_words=12,
                             cut=(", except", " but ", ", but", " where ", ", which", "; ", " with "))
                relation = match.group(1).lower().replace("synonym", "alias")
                if found and not found[1].lower().startswith(("this", "that", "the following")):
                    add("same_as", found, s=s, r=RELATIONS[relation])
        if match := re.match(r"(?:Like|Similar to|Same as) (.{2,60}?),? (?:but|except(?: that)?) ", sentence):
            other = match.group(1)
            if len(other.split()) <= 6 and balanced(other) and entry.kind in callable_kinds:
                add("like_which", (a + match.start(1), other), s=s)
                add("like_differ", span(context, a + match.end(), b, min_words=2,
                                        cut=("; ", ", and ", ", but ", " -- ")), s=s, x=plain(other))
        if match := re.search(r"(?:^|(?<=\. ))(?:The |An? )?[*`]*(\w+)[*`']* must be ", sentence):
            if match.group(1) in entry.arguments:
                add("must_be", span(context, a + match.end(), b, max_words=12, whole=True), s=s, p=match.group(1))
        if match := re.search(r"\b(?:[Tt]he )?default(?: value)? (?:of|for) [*`]*(\w+)[*`']* is ", sentence) or \
                re.search(r"[*`]*(\w+)[*`']*(?: argument| parameter)? defaults to ", sentence):
            name = match.group(1)
            if (name in entry.arguments and entry.params[name] is None) or (not entry.params and len(name) > 2):
                add("default_value", span(context, a + match.end(), b, max_words=8,
                                          cut=(", ", " (", " if ", " when ", "; ")), s=s, p=name)
    # the first sentence: what a class is, what a module is for
    for a, b in (sentences(context, start, end)[:1] if first_piece else []):
        sentence = context[a:b]
        if re.search(r"[\w.]+\(", sentence) or re.match(r"\w+:", sentence):
            continue  # a signature written by hand, or a heading, not prose
        first_word = sentence.split()[0].lower().strip(":")
        if entry.kind in ("class", "exception") and first_word.rstrip("s") not in VERBS | {"raise", "raised"} \
                and first_word not in ("this", "it", "see", "if", "use", "instances", "objects"):
            name = entry.short
            who = rng.choice([f"{article(name)} {name}", entry.name, f"the {name} class"])
            is_a = re.match(r"(?:An? |The )?[`*]*" + re.escape(name) + r"[`*]*(?: \w+)? (?:is|are) (?=an? |the )",
                            sentence)
            found = span(context, a + (is_a.end() if is_a else 0), b, max_words=14, min_words=2,
                         cut=(", ", "; ", " (", " -- "))
            if found and (is_a or not FINITE_VERB.search(found[1]) and not mentions(found[1].split()[0], name)) \
                    and not found[1].lower().startswith(("a class that", "class ")):
                add("definition", found, s=who)
        elif entry.kind == "module" and first_word not in ("this", "the", "see", "note"):
            match = re.match(r"(?:(?:Module )?[\w.]+ -- |This module (?:provides|implements|contains|defines) )?",
                             sentence)
            found = span(context, a + match.end(), b, max_words=14, min_words=3)
            if found:
                verb = found[1].split()[0].lower().rstrip("s") in VERBS
                if verb or match.group() or not FINITE_VERB.search(found[1]):
                    add("module_does" if verb else "module_purpose", found, s=entry.module)
    # definition lists: "name -- description", ":param name: description", command-line options
    def item(line, group, indent):
        """The description that starts at line.group(group), with its more indented continuation lines."""
        stop = start + line.end(group)
        while stop < end:
            following = context[stop + 1:context.find("\n", stop + 1) if "\n" in context[stop + 1:end] else end]
            if not following.strip() or len(following) - len(following.lstrip()) <= indent or \
                    re.search(r" --? |^\s*[-:]", following):
                break
            stop += 1 + len(following)
        found = span(context, start + line.start(group), stop, max_words=12, min_words=2,
                     cut=(". ", ", ", "; ", " (", " -- "))
        return None if not found or re.match(r"(?i)(?:if|when|unless)\b", found[1]) else found

    def indent(line):
        return len(line.group()) - len(line.group().lstrip())

    for line in re.finditer(r"(?m)^[ \t]*(?:- )?(.+?)[ \t]+--?[ \t]+(\S.*)$", context[start:end]):
        term, found = line.group(1).strip(), item(line, 2, indent(line))
        if not found:
            continue
        if match := re.fullmatch(r"'?(\w+)'?", term):
            word = match.group(1)
            if word in entry.arguments:
                add("param", found, s=s, t=word, extra={"param": word})
            elif entry.kind != "module" and len(word) > 2 and word not in ("None", "True", "False"):
                add("term", found, s=s, t=word)
        elif (match := re.fullmatch(r"(\w+)\([^()]*\)", term)) and entry.kind == "module":
            add("summary", found, s=entry.name, t=match.group(1) + "()")
    for line in re.finditer(r"(?m)^([ \t]*)(\w+)\n\1[ \t]+(\S.*)$", context[start:end]):
        if line.group(2) in entry.arguments:
            add("param", item(line, 3, len(line.group(1))), s=s, t=line.group(2), extra={"param": line.group(2)})
    for line in re.finditer(r"(?m)^[ \t]*:param (\w+): *(\S.*)$", context[start:end]):
        add("param", item(line, 2, indent(line)), s=s, t=line.group(1), extra={"param": line.group(1)})
    for line in re.finditer(r"(?m)^[ \t]*(?:-\w[/,] ?)?(--[a-z][\w-]+)(?:[ =][\w-]+)?:?[ \t]+(\S.*)$",
                            context[start:end]):
        add("option", item(line, 2, indent(line)), s=entry.module, t=line.group(1))
    # a default shown in the signature, when the prose does not give that parameter's default
    if first_piece and entry.kind in callable_kinds:
        prose = [context[x:y] for x, y in sentences(context, start, end)]
        options = [p for p in entry.arguments if entry.params[p] is not None and len(entry.params[p]) <= 25
                   and not entry.params[p].startswith("<")
                   and not any(mentions(t, p) and "default" in t.lower() for t in prose)]
        if options:
            rng.shuffle(options)
            options.sort(key=lambda p: entry.params[p] == "None" and rng.random() < 0.7)
            p = options[0]
            header_start = start - len(entry.header) - 1
            position = context.find(f"{p}={entry.params[p]}", header_start, start)
            if position > 0 and context[position - 1] in "( ":
                add("default_value", (position + len(p) + 1, entry.params[p]), s=s, p=p)
    return out


def impossible_candidates(context, spans, answerable, rng):
    """Questions of the same kinds about this context's own subjects, that the context does not answer."""
    out = []
    prose = [context[x:y] for x, y in sentences(context, 0, len(context))]
    conditional = [t for t in prose if re.search(r"\b(?:if|when|unless|otherwise)\b", t, re.I)]
    for entry, start, end, first_piece in spans:
        if entry.kind not in ("function", "method", "class"):
            continue
        s = subject(entry, rng)
        text = context[start:end]
        own = [c for c in answerable if c.entry is entry]

        def add(kind, plausible=None, **fields):
            plausible = plausible if plausible and re.search(r"[^\W_]", plausible[1]) else None
            out.append(Candidate(kind, ask(kind, rng, **fields), plausible=plausible, entry=entry,
                                 key=key(kind, **fields)))

        # 1. an exception the context never names, one that fits what the text is about
        absent = [e for e, topic in EXCEPTIONS.items() if e not in context and re.search(topic, text, re.I)]
        raises = [c for c in own if c.kind == "raises_when"]
        if absent and raises:
            original = rng.choice(raises)
            add("raises_when", (original.start, original.text), s=s, e=rng.choice(absent))
        elif absent and not re.search(r"rais|error|exception|fail|warn|invalid", text, re.I):
            add("raises_when", s=s, e=rng.choice(absent))
        # 2. the default of a required parameter, or of a neighbour's parameter that this one does not take
        def silent_on_default(p):
            return not any(mentions(t, p) and re.search(r"default|omitted|not given|optional|None", t) for t in prose)
        if first_piece and entry.params:
            required = [p for p in entry.arguments if entry.params[p] is None and silent_on_default(p)]
            borrowed = [(p, other) for other, *_ in spans if other is not entry and other.kind == entry.kind and
                        other.name.rsplit(".", 1)[0] == entry.name.rsplit(".", 1)[0] for p in other.arguments
                        if p not in entry.params and other.params[p] is not None and silent_on_default(p)]
            if borrowed and (not required or rng.random() < 0.5):
                p, other = rng.choice(borrowed)
                head = context.find(other.header)
                position = context.find(f"{p}={other.params[p]}", head, head + len(other.header))
                plausible = (position + len(p) + 1, other.params[p]) if position > 0 else None
                add("default_value", plausible, s=s, p=p)
            elif required:
                add("default_value", s=s, p=rng.choice(required))
        # 3. "what happens if <p> is ..." for a parameter no condition in the context talks about
        for c in own:
            condition = c.extra.get("condition", "")
            test = re.match(r"[*`]*(\w+)[*`']* ((?:is|are) (?:not )?(?:true|false|True|False|None|given|specified|"
                            r"supplied|provided|omitted|set|zero|empty|nonzero|negative)\b.*)", condition)
            if c.kind != "if_then" or not test or test.group(1) not in entry.arguments:
                continue
            others = [p for p in entry.arguments if p != test.group(1) and len(p) > 1
                      and not any(mentions(t, p) for t in conditional)]
            if others:
                add("if_then", (c.start, c.text), s=s, c=plain(f"{rng.choice(others)} {test.group(2)}"))
                break
        # 4. the return value of a procedure whose docstring says nothing of one
        first_word = text.split()[0].lower() if text.split() else ""
        if entry.kind in ("function", "method") and first_word in PROCEDURE_VERBS and \
                not re.search(r"return|yield|result|->|produc|give|true|false|none", text, re.I):
            add("returns", s=s)
        # 5. an equivalent that the docstring does not give
        if entry.kind in ("function", "method") and first_piece and len(text) > 150 and rng.random() < 0.3 and \
                not re.search(r"equivalent|identical|similar|same|alias|shorthand|like|wrapper|version of|variant|"
                              r"available as|known as|in terms of|calls |delegat|wraps|deprecated|use ", text, re.I):
            add("same_as", s=s, r=RELATIONS["equivalent"])
    return out


# ----------------------------------------------------------------------------------------------- assembly
def normalize(question):
    return re.sub(r"[^a-z0-9]+", " ", question.lower().replace("()", "")).strip()


def dedupe(candidates, taken=()):
    """No question asked twice, in any wording; a question with two different answers in one context is dropped."""
    answers = defaultdict(set)
    for c in candidates:
        answers[c.key].add(None if c.impossible else (c.start, c.text))
    out, asked, spans = [], set(taken), set()
    for c in candidates:
        if len(answers[c.key]) > 1 or c.key in asked or normalize(c.question) in asked or \
                (not c.impossible and (c.start, c.text) in spans):
            continue
        asked.update((c.key, normalize(c.question)))
        if not c.impossible:
            spans.add((c.start, c.text))
        out.append(c)
    return out


def build_questions(contexts, rng):
    """[(title, context, answerable candidates, unanswerable candidates)], all candidates kept for the splits."""
    items = []
    for title, context, spans in contexts:
        answerable = []
        for entry, start, end, first_piece in spans:
            answerable += answerable_candidates(context, entry, start, end, first_piece, rng)
        # an answer with no letter or digit, like '' or (), is "no answer" once SQuAD's scorer drops punctuation
        answerable = dedupe([c for c in answerable if c.question.endswith("?") and re.search(r"[^\W_]", c.text)])
        impossible = impossible_candidates(context, spans, answerable, rng)
        impossible = dedupe(impossible, taken={k for c in answerable for k in (c.key, normalize(c.question))})
        if answerable or impossible:
            items.append((title, context, answerable, impossible))
    return items
