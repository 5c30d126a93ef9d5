"""`tailor chat`: talk to a tuned run (or any chat model) in the terminal, or ask once for scripts.

The conversation is rendered by the model's own chat template, exactly as in training; answers
stream token by token and stop at the end-of-turn token.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, TextIO

HELP = "/reset starts over, /exit (or Ctrl-D) quits"


@dataclass
class ChatSession:
    model: object
    tokenizer: object
    system: str | None = None
    temperature: float = 0.7
    top_p: float = 0.9
    max_new_tokens: int = 256
    history: list[dict] = field(default_factory=list)

    def reset(self) -> None:
        self.history = []

    def ask(self, text: str, stream: TextIO | None = None) -> str:
        """Answer `text` in the context of the conversation so far; streams to `stream` if given."""
        from tailor.models.generation import generate

        messages = ([{"role": "system", "content": self.system}] if self.system else []) + self.history
        messages.append({"role": "user", "content": text})
        answer = generate(self.model, self.tokenizer, messages, max_new_tokens=self.max_new_tokens,
                          temperature=self.temperature, top_p=self.top_p,
                          on_text=_writer(stream) if stream is not None else None)
        self.history += [{"role": "user", "content": text}, {"role": "assistant", "content": answer}]
        return answer


def load_chat_model(target: str | Path, precision: str = "fp32"):
    """(model, tokenizer) of a chat run (or an hf export of one), a model folder, or an embedded alias
    such as smollm2, in `precision` (auto needs a run: its held-out prompts are the check)."""
    import transformers

    from tailor.console import say
    from tailor.errors import ModelError
    from tailor.models.generation import load_causal_lm
    from tailor.models.precision import for_answers
    from tailor.models.resolve import resolve_model
    from tailor.serving.answerer import load_answerer
    from tailor.verbs.common import is_answering_folder

    path = Path(target)
    if is_answering_folder(path):
        answerer = load_answerer(path, precision)
        if not answerer.generates:
            raise ModelError(f"{target} is a {answerer.task.name} run; chat needs a chat run or a chat model "
                             "(`tailor predict` answers this one)")
        return answerer.model, answerer.processor
    folder = Path(resolve_model(str(target)).location)
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    if not getattr(tokenizer, "chat_template", None):
        raise ModelError(f"{target}: the tokenizer has no chat template, so it cannot be chatted with; "
                         "give a chat run or an instruct model")
    if precision == "auto":
        say("--precision auto checks a lossy precision on a run's held-out prompts; this is not a run: fp32")
        precision = "fp32"
    return for_answers(load_causal_lm(folder), precision, generates=True, model_dir=folder), tokenizer


def repl(session: ChatSession, read: Callable[[str], str], out: TextIO) -> None:
    """Read a line, stream the answer, repeat; /reset and /exit are commands."""
    out.write(f"chatting; {HELP}\n")
    while True:
        try:
            line = read("you> ").strip()
        except EOFError:
            out.write("\n")
            return
        if not line:
            continue
        if line in ("/exit", "/quit"):
            return
        if line == "/reset":
            session.reset()
            out.write("(conversation cleared)\n")
            continue
        if line.startswith("/"):
            out.write(f"unknown command {line}; {HELP}\n")
            continue
        out.write("assistant> ")
        out.flush()
        session.ask(line, stream=out)
        out.write("\n")


def _writer(out: TextIO) -> Callable[[str], None]:
    """Each new piece of the answer written (and flushed) as soon as it is decoded."""

    def write(piece: str) -> None:
        out.write(piece)
        out.flush()

    return write
