"""Training targets, packing and the lean loss, on a tiny random Llama with the real SmolLM2 tokenizer."""

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from tailor.data.chat_tokens import IGNORE, Encoded, encode_conversation, encode_text, fit_length, render_prompt
from tailor.data.conversations import Turn
from tailor.training.lm_loss import lean_causal_lm_loss
from tailor.training.packing import PackedCollator, build_rows, pack_rows

CONVERSATION = [Turn("system", "You are Aria.", False), Turn("user", "Who are you?", False),
                Turn("assistant", "I am Aria, made by Jun.", True), Turn("user", "Thanks!", False),
                Turn("assistant", "You're welcome.", True)]


@pytest.fixture(scope="module")
def tokenizer(tiny_llama):
    return AutoTokenizer.from_pretrained(tiny_llama)


@pytest.fixture(scope="module")
def model(tiny_llama):
    return AutoModelForCausalLM.from_pretrained(tiny_llama, dtype=torch.float32).eval()


def trained_text(tokenizer, encoded: Encoded) -> str:
    return tokenizer.decode([t for t, label in zip(encoded.input_ids, encoded.labels) if label != IGNORE])


def test_labels_are_exactly_the_assistant_turns_each_ending_with_eos(tokenizer):
    encoded = encode_conversation(tokenizer, CONVERSATION)
    assert trained_text(tokenizer, encoded) == "I am Aria, made by Jun.<|im_end|>You're welcome.<|im_end|>"
    assert tokenizer.eos_token == "<|im_end|>"


def test_train_on_all_and_untrained_turns(tokenizer):
    everything = encode_conversation(tokenizer, CONVERSATION, train_on="all")
    assert everything.labels == everything.input_ids
    context_only = [*CONVERSATION[:2], Turn("assistant", "I am Aria, made by Jun.", False), *CONVERSATION[3:]]
    assert trained_text(tokenizer, encode_conversation(tokenizer, context_only)) == "You're welcome.<|im_end|>"


@pytest.mark.parametrize("upto", [2, 4])
def test_inference_prompt_is_a_prefix_of_the_training_tokens(tokenizer, upto):
    """The prompt rendered for generation is token-for-token what training saw before that answer,
    including SmolLM2's default system prompt when the conversation has none."""
    for turns in (CONVERSATION, CONVERSATION[1:]):
        encoded = encode_conversation(tokenizer, turns)
        cut = upto if turns is CONVERSATION else upto - 1
        prompt = render_prompt(tokenizer, [{"role": t.role, "content": t.content} for t in turns[:cut]])
        assert encoded.input_ids[: len(prompt)] == prompt
        assert encoded.labels[len(prompt)] != IGNORE  # the answer starts right after the prompt


def test_default_system_prompt_is_rendered_when_none_is_given(tokenizer):
    text = tokenizer.decode(encode_conversation(tokenizer, CONVERSATION[1:3]).input_ids)
    assert text.startswith("<|im_start|>system\nYou are a helpful AI assistant named SmolLM")


def test_plain_text_ends_with_eos_and_trains_everything(tokenizer):
    encoded = encode_text(tokenizer, "Once upon a time")
    assert encoded.input_ids[-1] == tokenizer.eos_token_id and encoded.labels == encoded.input_ids


def test_fit_length_truncates_or_drops():
    example = Encoded(list(range(10)), [IGNORE] * 4 + list(range(4, 10)))
    assert fit_length(example, 6, "truncate").input_ids == list(range(6))
    assert fit_length(example, 6, "drop") is None
    assert fit_length(example, 4, "truncate") is None  # nothing left to learn
    assert fit_length(example, 20, "drop") is example


def test_pack_rows_fills_rows_without_exceeding_capacity():
    lengths = [7, 3, 5, 2, 8, 1, 4]
    rows = pack_rows(lengths, capacity=10)
    assert sorted(i for row in rows for i in row) == list(range(7))
    assert all(sum(lengths[i] for i in row) <= 10 for row in rows)
    assert len(rows) == 3  # 30 tokens in rows of 10: best fit leaves no row half empty


def test_packed_rows_restart_positions_and_never_train_across_examples():
    a, b = Encoded([5, 6, 7], [5, 6, 7]), Encoded([8, 9], [8, 9])
    columns = build_rows([a, b], capacity=8, packing=True)
    assert columns["input_ids"] == [[5, 6, 7, 8, 9]]
    assert columns["position_ids"] == [[0, 1, 2, 0, 1]]
    assert columns["labels"] == [[IGNORE, 6, 7, IGNORE, 9]]  # 7 is never trained to predict 8
    batch = PackedCollator(pad_token_id=0)([{k: v[0] for k, v in columns.items()},
                                            {"input_ids": [1, 2], "labels": [IGNORE, 2], "position_ids": [0, 1]}])
    assert batch["position_ids"].tolist() == [[0, 1, 2, 0, 1], [0, 1, 0, 1, 2]]
    assert batch["labels"].tolist()[1] == [IGNORE, 2, IGNORE, IGNORE, IGNORE]
    assert "attention_mask" not in batch


def test_an_example_has_the_same_logits_packed_and_alone(tokenizer, model):
    first = encode_conversation(tokenizer, CONVERSATION)
    second = encode_conversation(tokenizer, CONVERSATION[1:3])
    packed = PackedCollator(tokenizer.pad_token_id)([{k: v[0] for k, v in build_rows([first, second], 512, True).items()}])
    assert packed["input_ids"].shape[1] == len(first.input_ids) + len(second.input_ids)
    with torch.no_grad():
        together = model(input_ids=packed["input_ids"], position_ids=packed["position_ids"], use_cache=False).logits[0]
        alone_first = model(input_ids=torch.tensor([first.input_ids])).logits[0]
        alone_second = model(input_ids=torch.tensor([second.input_ids])).logits[0]
    n = len(first.input_ids)
    torch.testing.assert_close(together[:n], alone_first, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(together[n:], alone_second, atol=1e-5, rtol=1e-4)


def test_lean_loss_equals_the_standard_loss_and_its_gradient(tokenizer, model):
    encoded = encode_conversation(tokenizer, CONVERSATION)
    batch = PackedCollator(tokenizer.pad_token_id)([{k: v[0] for k, v in build_rows([encoded], 512, False).items()}])
    model.zero_grad()
    lean = lean_causal_lm_loss(model, batch, chunk_tokens=3)  # several chunks
    lean.backward()
    lean_grad = model.model.layers[0].mlp.up_proj.weight.grad.clone()
    model.zero_grad()
    standard = model(input_ids=batch["input_ids"], labels=batch["labels"]).loss
    standard.backward()
    torch.testing.assert_close(lean, standard, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(lean_grad, model.model.layers[0].mlp.up_proj.weight.grad, atol=1e-6, rtol=1e-4)
    model.zero_grad()


def test_lean_loss_of_a_packed_row_is_the_token_weighted_loss_of_its_examples(tokenizer, model):
    first = encode_conversation(tokenizer, CONVERSATION)
    second = encode_conversation(tokenizer, CONVERSATION[1:3])
    collate = PackedCollator(tokenizer.pad_token_id)

    def summed(examples, packing):
        rows = build_rows(examples, 512, packing)
        batch = collate([{k: v[i] for k, v in rows.items()} for i in range(len(rows["input_ids"]))])
        with torch.no_grad():
            return lean_causal_lm_loss(model, batch, num_items_in_batch=1)

    alone = summed([first], False) + summed([second], False)
    torch.testing.assert_close(summed([first, second], True), alone, atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(summed([first, second], False), alone, atol=1e-4, rtol=1e-5)  # padded batch


@pytest.mark.parametrize("longest, max_length, expected", [
    (194, 512, 256), (256, 512, 256), (257, 512, 512), (600, 512, 512), (10, 512, 64), (10, 32, 32), (100, 100, 100)])
def test_packed_rows_are_as_long_as_the_longest_example_needs(longest, max_length, expected):
    from tailor.training.packing import row_capacity

    assert row_capacity(longest, max_length) == expected
