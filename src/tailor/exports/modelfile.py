"""The Ollama Modelfile of a GGUF export, its TEMPLATE derived from the model's own chat template.

The chat template is rendered around marker texts, and what it writes before and after each role's
content is read off: a turn ends after the end-of-turn token (and the newlines after it), the next
turn's header follows. The pieces are then checked: put together for several conversations (with
and without a system message, one and two exchanges) they must give exactly what the chat template
gives, or no Modelfile is claimed to match (`TurnPieces.derive` raises).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

_MARK = "\x00tailor-{}\x00"
ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class TurnPieces:
    prefix: dict[str, str]  # role -> text before its content
    suffix: dict[str, str]  # role -> text after it
    generation_prompt: str  # what opens the assistant's answer
    default_system: str | None  # the system text the template adds when a conversation has none
    end_of_turn: str

    @classmethod
    def derive(cls, tokenizer, end_of_turn: str) -> "TurnPieces":
        marks = {name: _MARK.format(name) for name in ("s", "u1", "a1", "u2")}
        rendered = _render(tokenizer, [("system", marks["s"]), ("user", marks["u1"]), ("assistant", marks["a1"]),
                                       ("user", marks["u2"])], generation=True)
        cuts = [rendered.index(mark) for mark in marks.values()]
        pieces = [rendered[:cuts[0]]] + [rendered[start + len(mark):end] for start, mark, end in
                                         zip(cuts, marks.values(), cuts[1:] + [len(rendered)])]
        system_end, user_start = _split_turn(pieces[1], end_of_turn)
        user_end, assistant_start = _split_turn(pieces[2], end_of_turn)
        assistant_end, user_start_again = _split_turn(pieces[3], end_of_turn)
        prefix = {"system": pieces[0], "user": user_start, "assistant": assistant_start}
        suffix = {"system": system_end, "user": user_end, "assistant": assistant_end}
        if user_start_again != user_start or not pieces[4].startswith(user_end):
            raise ValueError("the chat template writes a user turn differently depending on what precedes it")
        turns = cls(prefix, suffix, pieces[4][len(user_end):], None, end_of_turn)
        derived = replace(turns, default_system=turns._default_system(tokenizer))
        derived._check(tokenizer)
        return derived

    def render(self, messages: list[tuple[str, str]], generation: bool = True) -> str:
        """What the Modelfile's TEMPLATE makes of `messages` (role, content), in Python: what Ollama's
        Go template does with the same pieces."""
        if self.default_system is not None and (not messages or messages[0][0] != "system"):
            messages = [("system", self.default_system)] + list(messages)
        text = "".join(self.prefix[role] + content + self.suffix[role] for role, content in messages)
        return text + (self.generation_prompt if generation else "")

    def _default_system(self, tokenizer) -> str | None:
        mark = _MARK.format("u")
        rendered = _render(tokenizer, [("user", mark)], generation=True)
        before = rendered[:rendered.index(mark)]
        if before == self.prefix["user"] or not before.endswith(self.prefix["user"]):
            return None
        block = before[:-len(self.prefix["user"])] if self.prefix["user"] else before
        start, end = self.prefix["system"], self.suffix["system"]
        if not (block.startswith(start) and block.endswith(end)):
            raise ValueError("the chat template adds text before the first turn that is not a system turn")
        return block[len(start):len(block) - len(end)]

    def _check(self, tokenizer) -> None:
        conversations = [[("user", "Hi")], [("system", "Be brief."), ("user", "Hi")],
                         [("user", "Hi"), ("assistant", "Hello!"), ("user", "Who are you?")],
                         [("system", "S"), ("user", "a"), ("assistant", "b"), ("user", "c")]]
        for messages in conversations:
            if self.render(messages) != _render(tokenizer, messages, generation=True):
                raise ValueError(f"the derived turns do not reproduce the chat template for {messages}")


def _render(tokenizer, messages: list[tuple[str, str]], generation: bool) -> str:
    return tokenizer.apply_chat_template([{"role": role, "content": text} for role, text in messages],
                                         tokenize=False, add_generation_prompt=generation)


def _split_turn(between: str, end_of_turn: str) -> tuple[str, str]:
    """(the end of one turn, the start of the next) from the text between two contents: the turn ends
    after the end-of-turn token and any newlines that follow it."""
    at = between.find(end_of_turn)
    if at < 0:
        return between, ""
    cut = at + len(end_of_turn)
    while cut < len(between) and between[cut] == "\n":
        cut += 1
    return between[:cut], between[cut:]


def modelfile(gguf_name: str, pieces: TurnPieces) -> str:
    """An Ollama Modelfile: the GGUF beside it, the template, the stop token, greedy-friendly defaults
    left to Ollama."""
    # No "{{-" trimming: it would eat the newline a turn ends with.
    template = "{{ range .Messages }}" + "".join(
        f'{{{{ {"if" if i == 0 else "else if"} eq .Role "{role}" }}}}{_go(pieces.prefix[role])}{{{{ .Content }}}}'
        f"{_go(pieces.suffix[role])}" for i, role in enumerate(ROLES)) + "{{ end }}{{ end }}" + \
        _go(pieces.generation_prompt)
    lines = [f"FROM ./{gguf_name}", f'TEMPLATE """{template}"""']
    if pieces.default_system is not None:
        lines.append(f'SYSTEM """{pieces.default_system}"""')
    lines.append(f'PARAMETER stop "{pieces.end_of_turn}"')
    return "\n".join(lines) + "\n"


def _go(text: str) -> str:
    """Literal text inside a Go template: only `{{` would be read as an action."""
    if '"""' in text:
        raise ValueError('the chat template contains """, which a Modelfile cannot quote')
    return text.replace("{{", '{{ "{{" }}')
