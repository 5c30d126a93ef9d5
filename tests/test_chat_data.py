"""Chat data formats: detection, one normal form, placeholders, and one exact error per bad input."""

import json

import pytest

from tailor.data.conversations import Turn, detect_format, prompts_of, read_conversations, read_prompts
from tailor.data.readers import read_table
from tailor.errors import DataError

EXPECTED = [Turn("system", "Be brief.", False), Turn("user", "Hi", False), Turn("assistant", "Hello!", True)]

ROWS = {
    "messages": {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                              {"role": "assistant", "content": "Hello!"}]},
    "sharegpt": {"system": "Be brief.", "conversations": [{"from": "human", "value": "Hi"},
                                                          {"from": "gpt", "value": "Hello!"}]},
    "alpaca": {"system": "Be brief.", "instruction": "Hi", "input": "", "output": "Hello!"},
    "prompt-completion": {"prompt": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
                          "completion": [{"role": "assistant", "content": "Hello!"}]},
}


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def read(path, fmt="auto", vars=None, on_invalid="error"):
    table = read_table(path)
    return read_conversations(table, detect_format(table) if fmt == "auto" else fmt, vars, on_invalid)


@pytest.mark.parametrize("fmt", sorted(ROWS))
def test_each_format_is_detected_and_normalized(tmp_path, fmt):
    table = read_table(write_jsonl(tmp_path / "d.jsonl", [ROWS[fmt]]))
    assert detect_format(table) == fmt
    assert read_conversations(table, fmt).columns["messages"] == [EXPECTED]


def test_alpaca_input_and_history_become_turns(tmp_path):
    row = {"instruction": "Translate", "input": "bonjour", "output": "hello", "history": [["hi", "hey"]]}
    examples = read(write_jsonl(tmp_path / "a.jsonl", [row]))
    assert examples.columns["messages"][0] == [Turn("user", "hi", False), Turn("assistant", "hey", True),
                                               Turn("user", "Translate\n\nbonjour", False),
                                               Turn("assistant", "hello", True)]


def test_string_prompt_completion_is_one_exchange(tmp_path):
    examples = read(write_jsonl(tmp_path / "p.jsonl", [{"prompt": "2+2?", "completion": "4"}]))
    assert examples.columns["messages"][0] == [Turn("user", "2+2?", False), Turn("assistant", "4", True)]


def test_plain_text_is_read_as_documents(tmp_path):
    examples = read(write_jsonl(tmp_path / "t.jsonl", [{"text": "Once upon a time."}]))
    assert examples.columns == {"text": ["Once upon a time."]}


def test_typed_content_parts_and_loss_weights(tmp_path):
    """OpenAI and LLaMA-Factory v1 allow content as typed parts ("text" or "value") and per-turn
    weights: a weight-0 assistant turn is context, not a target."""
    row = {"messages": [{"role": "user", "content": [{"type": "text", "value": "Hi "}, {"type": "text", "text": "there"}]},
                        {"role": "assistant", "content": "old answer", "loss_weight": 0.0},
                        {"role": "user", "content": "again"}, {"role": "assistant", "content": "new", "weight": 1}]}
    turns = read(write_jsonl(tmp_path / "m.jsonl", [row])).columns["messages"][0]
    assert turns[0].content == "Hi there"
    assert [t.train for t in turns] == [False, False, False, True]


def test_placeholders_are_filled_from_vars(tmp_path):
    rows = [{"instruction": "Who made you?", "output": "{{author}} made me; I am {name}. {not_a_var} {}"}]
    turns = read(write_jsonl(tmp_path / "i.jsonl", rows), vars={"name": "Aria", "author": "Jun"}).columns["messages"][0]
    assert turns[-1].content == "Jun made me; I am Aria. {not_a_var} {}"


def test_prompts_cut_before_the_last_answer(tmp_path):
    prompts = prompts_of(read(write_jsonl(tmp_path / "d.jsonl", [ROWS["messages"]])))
    assert prompts[0].messages == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    assert prompts[0].reference == "Hello!" and prompts[0].system == "Be brief."
    only = read_prompts(read_table(write_jsonl(tmp_path / "q.jsonl", [{"prompt": "Who are you, {name}?"},
                                                                      {"prompt": "Hi", "system": "Be {name}."}])),
                        vars={"name": "Aria"})
    assert [p.messages for p in prompts_of(only)] == [
        [{"role": "user", "content": "Who are you, Aria?"}],
        [{"role": "system", "content": "Be Aria."}, {"role": "user", "content": "Hi"}]]


BAD = [
    ({"messages": [{"role": "human", "content": "Hi"}, {"role": "assistant", "content": "Yo"}]},
     "line 2, field 'messages': message 1 has unknown role 'human'. Use one of: system, user, assistant"),
    ({"messages": [{"role": "user"}, {"role": "assistant", "content": "Yo"}]},
     "line 2, field 'messages': message 1 has no 'content'. Write each message as {\"role\": ..., \"content\": ...}"),
    ({"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "  "}]},
     "line 2, field 'messages': an assistant turn is empty. Write the answer the model should learn, or remove "
     "the row"),
    ({"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"},
                   {"role": "user", "content": "and?"}]},
     "line 2, field 'messages': the conversation ends with a user turn, not an assistant turn. End each example "
     "with the assistant's answer (drop the unanswered last turn)"),
    ({"messages": [{"role": "user", "content": 42}, {"role": "assistant", "content": "Yo"}]},
     "line 2, field 'messages[1].content': expected text, got a number. Give it as a string"),
    ({"messages": "Hi"}, "line 2, field 'messages': expected a non-empty list of messages, got a string. Write "
     "{\"messages\": [{\"role\": \"user\", \"content\": ...}, {\"role\": \"assistant\", ...}]}"),
    ({"messages": [{"role": "system", "content": "S"}, {"role": "assistant", "content": "Yo"}]},
     "line 2, field 'messages': the first assistant turn has no user turn before it. Start the conversation with "
     "what the user says"),
]


@pytest.mark.parametrize("row, message", BAD, ids=[m.split(": ", 1)[1][:30] for _, m in BAD])
def test_bad_conversation_gets_one_exact_line(tmp_path, row, message):
    path = write_jsonl(tmp_path / "chat.jsonl", [ROWS["messages"], row])
    with pytest.raises(DataError) as caught:
        read(path)
    assert str(caught.value) == f"{path}, {message}"


def test_sharegpt_errors_name_the_turn(tmp_path):
    path = write_jsonl(tmp_path / "s.jsonl", [{"conversations": [{"from": "human", "value": "Hi"},
                                                                 {"from": "function_call", "value": "{}"}]}])
    with pytest.raises(DataError, match="line 1, field 'conversations': turn 2 has unknown role 'function_call'. "
                                        r"Use human, gpt or system \(tool-call turns are not supported yet\)"):
        read(path)


def test_alpaca_missing_output(tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", [{"instruction": "Hi", "output": None}])
    with pytest.raises(DataError) as caught:
        read(path, fmt="alpaca")
    assert str(caught.value) == (f"{path}, line 1, field 'output': missing. Add it, or set chat.format if this "
                                 "file has another format")


def test_unknown_layout_lists_the_formats(tmp_path):
    path = write_jsonl(tmp_path / "x.jsonl", [{"question": "Hi", "answer": "Yo"}])
    with pytest.raises(DataError) as caught:
        read(path)
    assert str(caught.value) == (f"{path}, line 1: cannot tell the chat format from the keys ['answer', 'question']. "
                                 "Use one of: messages (OpenAI), conversations (ShareGPT), instruction/output "
                                 "(Alpaca), prompt/completion, or text; or set chat.format")


def test_skip_counts_invalid_rows(tmp_path):
    good, bad = ROWS["messages"], {"messages": [{"role": "user", "content": "Hi"}]}
    examples = read(write_jsonl(tmp_path / "d.jsonl", [good, bad, good, bad]), on_invalid="skip")
    assert len(examples) == 2 and examples.where == ["line 1", "line 3"]
    assert sum(examples.skipped.values()) == 2
