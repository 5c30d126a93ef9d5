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
        streamer = _Streamer(self.tokenizer, stream) if stream is not None else None
        answer = generate(self.model, self.tokenizer, messages, max_new_tokens=self.max_new_tokens,
                          temperature=self.temperature, top_p=self.top_p, streamer=streamer)
        self.history += [{"role": "user", "content": text}, {"role": "assistant", "content": answer}]
        return answer


def load_chat_model(target: str | Path):
    """A run folder (its model/), a model folder, or an embedded alias such as smollm2."""
    import transformers

    from tailor.errors import ModelError
    from tailor.models.generation import load_causal_lm
    from tailor.models.resolve import resolve_model
    from tailor.runs import RunDir

    path = Path(target)
    if (path / "config.yaml").exists() and (path / "model").is_dir():
        folder = RunDir(path).require_model()
    else:
        folder = Path(resolve_model(str(target)).location)
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    if not getattr(tokenizer, "chat_template", None):
        raise ModelError(f"{target}: the tokenizer has no chat template, so it cannot be chatted with; "
                         "give a chat run or an instruct model")
    return load_causal_lm(folder), tokenizer


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


class _Streamer:
    """Writes each new piece of the answer as soon as it is decoded (transformers' TextStreamer
    contract: put() with token ids, end() at the end), skipping the prompt."""

    def __init__(self, tokenizer, out: TextIO):
        from transformers import TextStreamer

        self._inner = TextStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
        self._inner.on_finalized_text = self._write
        self.out = out

    def _write(self, text: str, stream_end: bool = False) -> None:
        self.out.write(text)
        self.out.flush()

    def put(self, value) -> None:
        self._inner.put(value)

    def end(self) -> None:
        self._inner.end()
