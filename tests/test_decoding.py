"""The shared decode loop and --precision: prompts decoded together answer exactly as one at a time
(rows joining and leaving between steps included), seeds repeat, stop strings cut, a cancelled
row leaves; bf16/int8 change the weights they say, and `auto` records its check and reuses it."""

from __future__ import annotations

import json

import pytest
import torch

import tailor
from task_fixtures import train_tiny_run
from tailor.models.decoding import Reply, Sampling, generate_all
from tailor.models.generation import stop_token_ids

PROMPTS = ["Who are you?", "What is your name and where do you come from?", "Tell me about yourself.", "Hi",
           "Who made you, and when, and why?"]


@pytest.fixture(scope="module")
def chat_run(tmp_path_factory, request):
    return train_tiny_run("chat", tmp_path_factory.mktemp("chat"), request, max_steps=2)


@pytest.fixture(scope="module")
def model_and_tokenizer(chat_run):
    from tailor.models.precision import for_answers
    from tailor.verbs.common import load_run

    _, _, model, tokenizer = load_run(chat_run)
    return for_answers(model, "fp32", generates=True), tokenizer


def _replies(tokenizer, sampling=Sampling(max_new_tokens=12)):
    from tailor.data.chat_tokens import render_prompt

    return [Reply(render_prompt(tokenizer, [{"role": "user", "content": p}]), sampling) for p in PROMPTS]


def _hf_generate(model, tokenizer, reply) -> list[int]:
    ids = torch.tensor([reply.prompt_ids])
    stops = stop_token_ids(model, tokenizer)
    with torch.inference_mode():
        out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=12, do_sample=False,
                             eos_token_id=stops, pad_token_id=stops[0], temperature=None, top_p=None, top_k=None)
    return [t for t in out[0, ids.shape[1]:].tolist() if t not in stops]


@pytest.mark.parametrize("max_rows", [1, 2, 8])
def test_prompts_decoded_together_answer_as_transformers_generate_does_one_at_a_time(model_and_tokenizer, max_rows):
    model, tokenizer = model_and_tokenizer
    expected = [_hf_generate(model, tokenizer, r) for r in _replies(tokenizer)]
    # max_rows=2: five prompts of different lengths join a running batch as rows finish
    got = generate_all(model, tokenizer, _replies(tokenizer), stop_token_ids(model, tokenizer), max_rows=max_rows)
    assert [r.ids for r in got] == expected
    assert all(r.finish_reason in ("stop", "length") for r in got)


def test_a_seed_repeats_a_sampled_answer_and_another_seed_changes_it(model_and_tokenizer):
    model, tokenizer = model_and_tokenizer
    stops = stop_token_ids(model, tokenizer)

    def sampled(seed):
        return generate_all(model, tokenizer, _replies(tokenizer, Sampling(20, temperature=1.5, top_p=0.95, seed=seed)),
                            stops)

    first, again, other = sampled(1), sampled(1), sampled(2)
    assert [r.ids for r in first] == [r.ids for r in again]
    assert [r.ids for r in first] != [r.ids for r in other]


def test_a_stop_string_cuts_the_answer_and_the_streamed_pieces_add_up_to_it(model_and_tokenizer):
    model, tokenizer = model_and_tokenizer
    stops = stop_token_ids(model, tokenizer)
    full = generate_all(model, tokenizer, _replies(tokenizer)[:1], stops)[0].text
    stop = full[4:7]
    pieces = []
    reply = _replies(tokenizer, Sampling(max_new_tokens=12, stop=(stop,)))[0]
    reply.on_text = pieces.append
    generate_all(model, tokenizer, [reply], stops)
    assert reply.finish_reason == "stop" and reply.text == full[:full.index(stop)]
    assert "".join(pieces) == reply.text


def test_a_cancelled_row_leaves_the_batch_and_the_others_go_on(model_and_tokenizer):
    from tailor.models.decoding import DecodeBatch

    model, tokenizer = model_and_tokenizer
    replies = _replies(tokenizer, Sampling(max_new_tokens=50))[:3]
    gone = {"now": False}
    replies[1].cancelled = lambda: gone["now"]
    batch = DecodeBatch(model, tokenizer, [])
    batch.add(replies)
    batch.step()
    gone["now"] = True
    batch.step()
    assert len(batch) == 2 and replies[1].finish_reason == "cancelled" and len(replies[1].ids) == 2
    while len(batch):
        batch.step()
    assert [len(r.ids) for r in (replies[0], replies[2])] == [50, 50]


def test_bf16_casts_the_weights_and_int8_builds_a_graph_once_that_answers_alike(chat_run, model_and_tokenizer):
    import copy

    from tailor.models.ort_genai import BUILT_FOR, Int8Model
    from tailor.models.precision import for_answers

    model, tokenizer = model_and_tokenizer
    bf16 = for_answers(copy.deepcopy(model), "bf16", generates=True)
    assert {p.dtype for p in bf16.parameters()} == {torch.bfloat16}
    int8 = for_answers(copy.deepcopy(model), "int8", generates=True, model_dir=chat_run / "model")
    assert isinstance(int8, Int8Model) and int8.folder == chat_run / "answering" / "int8"
    built = (int8.folder / BUILT_FOR).stat().st_mtime_ns
    assert {"model.onnx", "genai_config.json", BUILT_FOR} <= {p.name for p in int8.folder.iterdir()}
    again = for_answers(copy.deepcopy(model), "int8", generates=True, model_dir=chat_run / "model")
    assert (again.folder / BUILT_FOR).stat().st_mtime_ns == built  # reused, not built again
    stops = stop_token_ids(model, tokenizer)
    reference = generate_all(model, tokenizer, _replies(tokenizer), stops)
    answers = generate_all(int8, tokenizer, _replies(tokenizer), stops, max_rows=2)
    # int8 weights move some of a random model's near-tied choices; most first tokens stay the same
    assert sum(a.ids[:1] == r.ids[:1] for a, r in zip(answers, reference)) >= 3
    assert all(len(a.ids) == 12 or a.finish_reason == "stop" for a in answers)


def test_auto_checks_once_records_why_and_reuses_the_record(chat_run, monkeypatch):
    import tailor.serving.precision_check as check
    from tailor.serving.answerer import load_answerer

    monkeypatch.setattr(check, "native_bf16", lambda: True)
    first = load_answerer(chat_run, "auto")
    record = json.loads((chat_run / "answering" / "precision.json").read_text())
    assert record["chosen"] == first.precision and first.precision in ("int8", "bf16", "fp32")
    assert record["checked"]["int8"]["of"] == record["checked"]["bf16"]["of"] == 8
    assert record["why"] in first.precision_note and record["checked"]["fp32"]["seconds"] > 0
    assert record["chosen"] == check._verdict(record["checked"], "answers")["chosen"]

    def no_second_check(*args):
        raise AssertionError("the recorded check should have been reused")

    monkeypatch.setattr(check, "_check", no_second_check)
    assert load_answerer(chat_run, "auto").precision == first.precision
    monkeypatch.setattr(check, "native_bf16", lambda: False)
    assert load_answerer(chat_run, "auto").precision == "fp32"


def test_predict_on_a_chat_run_takes_the_generation_flags(chat_run, cli, tmp_path):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"prompt": p}) + "\n" for p in PROMPTS))
    code, out, err = cli("predict", chat_run, "--data", prompts, "--max-new-tokens", "3", "--temperature", "0",
                         "--batch-size", "4")
    assert code == 0, err
    answers = [json.loads(line) for line in out.splitlines()]
    assert [a["prompt"] for a in answers] == PROMPTS
    assert answers == tailor.predict(chat_run, data=prompts, max_new_tokens=3, batch_size=1)
    code, _, err = cli("predict", chat_run, "--text", "hi", "--precision", "fp16")
    assert code == 2 and err.strip() == "error: --precision fp16: choose one of fp32, bf16, int8, auto"


def test_auto_keeps_the_fastest_precision_that_answered_alike_only_if_it_is_faster():
    from tailor.serving.precision_check import _verdict

    def checked(int8, bf16):
        return {"fp32": {"seconds": 10.0}, "int8": {"same": int8[0], "of": 8, "seconds": int8[1]},
                "bf16": {"same": bf16[0], "of": 8, "seconds": bf16[1]}}

    assert _verdict(checked((8, 2.0), (8, 5.0)), "answers")["chosen"] == "int8"
    assert _verdict(checked((7, 2.0), (8, 5.0)), "answers")["chosen"] == "bf16"
    slow = _verdict(checked((7, 2.0), (8, 9.5)), "answers")
    assert slow["chosen"] == "fp32" and slow["why"].startswith("fp32, as none that answered alike was faster")
    assert _verdict(checked((7, 2.0), (6, 5.0)), "answers")["why"] == (
        "fp32, as none answered alike (int8 7 of 8 the same in 2.0 s; bf16 6 of 8 the same in 5.0 s; fp32 10.0 s)")
