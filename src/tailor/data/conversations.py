"""Chat data in the formats people already have -> one normal form, validated line by line.

Formats (auto-detected from the keys of the rows, or set with chat.format):
  messages           {"messages": [{"role": "system|user|assistant", "content": ...}]}   (OpenAI)
  sharegpt           {"conversations": [{"from": "human|gpt|system", "value": ...}], "system"?: ...}
  alpaca             {"instruction", "input"?, "output", "system"?, "history"?: [[user, assistant], ...]}
  prompt-completion  {"prompt": str | messages, "completion": str | messages}
  text               {"text": ...}   plain text for continued pre-training (no chat template)

Normal form: a conversation is a list of Turn(role, content, train); `train` is False for system
and user turns, and for assistant turns that the file marks with weight/loss_weight 0.
Placeholders such as {name} or {{name}} are filled from `vars` (the config's vars: section) (the assistant recipe uses them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from tailor.data.examples import Examples
from tailor.data.readers import Table
from tailor.errors import DataError

FORMATS = ("messages", "sharegpt", "alpaca", "prompt-completion", "text")
ROLES = ("system", "user", "assistant")
SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                  "chatgpt": "assistant", "bard": "assistant", "model": "assistant", "system": "system"}
# The key(s) whose presence identifies each format, in the order they are tried.
_SIGNATURES = (("messages", ("messages",)), ("sharegpt", ("conversations",)),
               ("alpaca", ("instruction", "output")), ("prompt-completion", ("prompt", "completion")),
               ("text", ("text",)))


@dataclass(frozen=True)
class Turn:
    role: str
    content: str
    train: bool


def detect_format(table: Table) -> str:
    """The format whose keys the first row has; a clear error listing the formats otherwise."""
    first = table.rows[0]
    for name, keys in _SIGNATURES:
        if all(key in first for key in keys):
            return name
    raise DataError(table.path, f"cannot tell the chat format from the keys {sorted(first)[:8]}",
                    "Use one of: messages (OpenAI), conversations (ShareGPT), instruction/output (Alpaca), "
                    "prompt/completion, or text; or set chat.format", where=table.where[0])


def read_conversations(table: Table, fmt: str, vars: dict[str, str] | None = None,
                       on_invalid: str = "error") -> Examples:
    """Every row -> a conversation (or a plain text for format `text`). Bad rows raise DataError,
    or are skipped and counted when on_invalid="skip"."""
    from collections import Counter

    parse = _PARSERS[fmt]
    fill = _placeholder_filler(vars or {})
    values, where, skipped = [], [], Counter()
    for row, location in zip(table.rows, table.where):
        try:
            value = parse(row, _Row(table.path, location))
        except DataError as error:
            if on_invalid != "skip":
                raise
            skipped[error.problem] += 1
            continue
        values.append(fill(value) if isinstance(value, str) else [
            Turn(t.role, fill(t.content), t.train) for t in value])
        where.append(location)
    if not values:
        raise DataError(table.path, f"every row was skipped ({sum(skipped.values())} invalid)",
                        "Check chat.format and the file")
    role = "text" if fmt == "text" else "messages"
    return Examples(table.path, {role: values}, where, skipped)


def as_messages(turns: list[Turn]) -> list[dict]:
    """Turns as the {"role", "content"} dicts that chat templates and generation take."""
    return [{"role": t.role, "content": t.content} for t in turns]


@dataclass(frozen=True)
class _Row:
    """Where a row came from, to build errors that point at it."""

    path: Path
    where: str

    def error(self, problem: str, fix: str, field: str | None = None) -> DataError:
        return DataError(self.path, problem, fix, where=self.where, field=field)


def _parse_messages(row: dict, at: _Row, key: str = "messages") -> list[Turn]:
    messages = row.get(key)
    if not isinstance(messages, list) or not messages:
        raise at.error(f"expected a non-empty list of messages, got {_kind(messages)}",
                       'Write {"messages": [{"role": "user", "content": ...}, {"role": "assistant", ...}]}', key)
    turns = []
    for number, message in enumerate(messages, start=1):
        if not isinstance(message, dict):
            raise at.error(f"message {number} is {_kind(message)}, not an object",
                           'Write each message as {"role": ..., "content": ...}', key)
        if "role" not in message or "content" not in message:
            missing = "role" if "role" not in message else "content"
            raise at.error(f"message {number} has no '{missing}'", 'Write each message as {"role": ..., '
                           '"content": ...}', key)
        role = message["role"]
        if role not in ROLES:
            raise at.error(f"message {number} has unknown role '{role}'", f"Use one of: {', '.join(ROLES)}", key)
        content = _content_text(message["content"], at, f"{key}[{number}].content")
        weight = message.get("weight", message.get("loss_weight", 1))
        turns.append(Turn(role, content, train=role == "assistant" and bool(weight)))
    return _validated(turns, at, key)


def _parse_sharegpt(row: dict, at: _Row) -> list[Turn]:
    conversation = row.get("conversations")
    if not isinstance(conversation, list) or not conversation:
        raise at.error(f"expected a non-empty list of turns, got {_kind(conversation)}",
                       'Write {"conversations": [{"from": "human", "value": ...}, {"from": "gpt", ...}]}',
                       "conversations")
    turns = []
    system = row.get("system")
    if isinstance(system, str) and system.strip():
        turns.append(Turn("system", system, False))
    for number, turn in enumerate(conversation, start=1):
        if not isinstance(turn, dict) or "from" not in turn or "value" not in turn:
            raise at.error(f"turn {number} is not an object with 'from' and 'value'",
                           'Write each turn as {"from": "human" or "gpt", "value": ...}', "conversations")
        role = SHAREGPT_ROLES.get(str(turn["from"]).lower())
        if role is None:
            raise at.error(f"turn {number} has unknown role '{turn['from']}'",
                           "Use human, gpt or system (tool-call turns are not supported yet)", "conversations")
        content = _content_text(turn["value"], at, f"conversations[{number}].value")
        turns.append(Turn(role, content, train=role == "assistant"))
    return _validated(turns, at, "conversations")


def _parse_alpaca(row: dict, at: _Row) -> list[Turn]:
    turns = []
    system = row.get("system")
    if isinstance(system, str) and system.strip():
        turns.append(Turn("system", system, False))
    history = row.get("history") or []
    if not isinstance(history, list) or any(not isinstance(p, (list, tuple)) or len(p) != 2 for p in history):
        raise at.error("history must be a list of [user, assistant] pairs", 'Write "history": [["hi", "hello"]]',
                       "history")
    for user, assistant in history:
        turns += [Turn("user", _content_text(user, at, "history"), False),
                  Turn("assistant", _content_text(assistant, at, "history"), True)]
    instruction = _content_text(row.get("instruction"), at, "instruction")
    extra = row.get("input")
    prompt = f"{instruction}\n\n{extra}" if isinstance(extra, str) and extra.strip() else instruction
    turns += [Turn("user", prompt, False), Turn("assistant", _content_text(row.get("output"), at, "output"), True)]
    return _validated(turns, at, "output")


def _parse_prompt_completion(row: dict, at: _Row) -> list[Turn]:
    """String pairs become one user turn and one assistant turn, rendered with the chat template;
    lists of messages (TRL's conversational form) are taken as they are."""
    prompt, completion = row.get("prompt"), row.get("completion")
    if isinstance(prompt, list):
        turns = _loose_messages(prompt, at, "prompt")
    else:
        turns = [Turn("user", _content_text(prompt, at, "prompt"), False)]
    if isinstance(completion, list):
        turns += _loose_messages(completion, at, "completion")
    else:
        turns.append(Turn("assistant", _content_text(completion, at, "completion"), True))
    return _validated(turns, at, "completion")


def _parse_text(row: dict, at: _Row) -> str:
    return _content_text(row.get("text"), at, "text")


def _loose_messages(messages: list, at: _Row, key: str) -> list[Turn]:
    """A prompt or completion given as messages: validated like a conversation, except that it may
    end on any role (the prompt ends with the user, the completion is the assistant's)."""
    turns = []
    for number, message in enumerate(messages, start=1):
        if not isinstance(message, dict) or message.get("role") not in ROLES or "content" not in message:
            raise at.error(f"message {number} needs a role ({', '.join(ROLES)}) and a content",
                           'Write each message as {"role": ..., "content": ...}', key)
        role = message["role"]
        turns.append(Turn(role, _content_text(message["content"], at, key),
                          train=role == "assistant" and key == "completion"))
    return turns


def _content_text(content, at: _Row, field: str) -> str:
    """A message's text. OpenAI and LLaMA-Factory also allow a list of typed parts: the text ones
    ({"type": "text", "text"|"value": ...}) are joined; any other part type is an error."""
    if isinstance(content, list):
        pieces = []
        for part in content:
            text = part.get("text", part.get("value")) if isinstance(part, dict) else None
            if not isinstance(text, str) or part.get("type", "text") != "text":
                raise at.error(f"only text parts are supported, got {_kind(part)}",
                               "Give the content as a string", field)
            pieces.append(text)
        content = "".join(pieces)
    if content is None:
        raise at.error("missing", "Add it, or set chat.format if this file has another format", field)
    if not isinstance(content, str):
        raise at.error(f"expected text, got {_kind(content)}", "Give it as a string", field)
    return content


def _validated(turns: list[Turn], at: _Row, field: str) -> list[Turn]:
    for turn in turns:
        if turn.role == "assistant" and not turn.content.strip():
            raise at.error("an assistant turn is empty", "Write the answer the model should learn, or remove "
                           "the row", field)
    if not any(t.role == "assistant" for t in turns):
        raise at.error("the conversation has no assistant turn", "Add the answer the model should learn", field)
    if turns[-1].role != "assistant":
        raise at.error(f"the conversation ends with a {turns[-1].role} turn, not an assistant turn",
                       "End each example with the assistant's answer (drop the unanswered last turn)", field)
    first_answer = next(i for i, t in enumerate(turns) if t.role == "assistant")
    if not any(t.role == "user" for t in turns[:first_answer]):
        raise at.error("the first assistant turn has no user turn before it", "Start the conversation with "
                       "what the user says", field)
    if sum(t.role == "system" for t in turns) > 1 or any(t.role == "system" for t in turns[1:]):
        raise at.error("a system message may only come first, once", "Move it to the start", field)
    return turns


def _placeholder_filler(vars: dict[str, str]):
    """Replace {name} and {{name}} for each declared variable; other braces (code, JSON) stay."""
    if not vars:
        return lambda text: text
    pattern = re.compile(r"\{\{\s*(" + "|".join(map(re.escape, vars)) + r")\s*\}\}|\{(" +
                         "|".join(map(re.escape, vars)) + r")\}")
    return lambda text: pattern.sub(lambda m: str(vars[m.group(1) or m.group(2)]), text)


def _kind(value) -> str:
    """A JSON value's type in the words of JSON, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    names = {int: "a number", float: "a number", str: "a string", list: "a list", dict: "an object"}
    return names.get(type(value), f"a {type(value).__name__}")


_PARSERS = {"messages": _parse_messages, "sharegpt": _parse_sharegpt, "alpaca": _parse_alpaca,
            "prompt-completion": _parse_prompt_completion, "text": _parse_text}


@dataclass(frozen=True)
class Prompt:
    """What a model is asked: the conversation up to the last user turn, and the answer the data
    gives for it (None when the file has only prompts)."""

    messages: list[dict]
    reference: str | None

    @property
    def system(self) -> str | None:
        return self.messages[0]["content"] if self.messages[0]["role"] == "system" else None


def read_prompts(table: Table, fmt: str = "auto", vars: dict[str, str] | None = None) -> Examples:
    """Prompts to answer: a `prompt` column of plain strings (with an optional `system` column), or
    conversations in any chat format (their last assistant turn becomes the reference answer)."""
    if fmt in ("auto", "prompt-completion") and "prompt" in table.rows[0] and "completion" not in table.rows[0]:
        fill = _placeholder_filler(vars or {})
        conversations = []
        for row, location in zip(table.rows, table.where):
            at = _Row(table.path, location)
            turns = [Turn("user", fill(_content_text(row.get("prompt"), at, "prompt")), False)]
            if row.get("system"):
                turns.insert(0, Turn("system", fill(_content_text(row["system"], at, "system")), False))
            conversations.append(turns)
        return Examples(table.path, {"prompts": conversations}, list(table.where))
    return read_conversations(table, detect_format(table) if fmt == "auto" else fmt, vars)


def prompts_of(examples: Examples) -> list[Prompt]:
    """Prompts from conversations (cut before their last assistant turn), from a prompts file, or
    from plain strings (`text`, from the command line: one user turn each)."""
    if "messages" in examples.columns:
        prompts = []
        for turns in examples.columns["messages"]:
            last = max(i for i, t in enumerate(turns) if t.role == "assistant")
            prompts.append(Prompt(as_messages(turns[:last]), turns[last].content))
        return prompts
    if "prompts" in examples.columns:
        return [Prompt(as_messages(turns), None) for turns in examples.columns["prompts"]]
    return [Prompt([{"role": "user", "content": text}], None) for text in examples.columns.get("text", [])]
