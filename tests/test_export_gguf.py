"""GGUF exports of chat runs: the weights round-trip (q/k permutation included), the vocabulary,
end-of-turn token and chat template travel in the file, the Ollama Modelfile reproduces the chat
template, and the export is checked against the run before it is handed over."""

from __future__ import annotations

import json

import pytest
import torch

import tailor
from task_fixtures import train_tiny_run
from tailor.errors import ConfigError, ExportError


@pytest.fixture(scope="module")
def chat_run(tmp_path_factory, request):
    return train_tiny_run("chat", tmp_path_factory.mktemp("chat"), request, max_steps=3)


@pytest.fixture(scope="module")
def f16_export(chat_run, tmp_path_factory):
    return tailor.export(chat_run, tmp_path_factory.mktemp("gguf") / "f16", format="gguf", quantize="f16")


def _merged(run):
    from tailor.models.methods import merge_for_export
    from tailor.verbs.common import load_run

    _, _, model, tokenizer = load_run(run)
    return merge_for_export(model), tokenizer


def test_the_f16_file_holds_the_merged_weights_and_passes_its_check(chat_run, f16_export):
    from transformers import AutoModelForCausalLM

    assert {p.name for p in f16_export.iterdir()} == {"model.f16.gguf", "Modelfile", "verification.json"}
    report = json.loads((f16_export / "verification.json").read_text())
    assert report["passed"] and report["failures"] == [] and report["prompts"] == 8
    assert report["tokenizer_identical"] == 8 and report["eos_is_end_of_turn"]
    assert report["loss"]["export"] == pytest.approx(report["loss"]["model"], rel=1e-3)
    merged, _ = _merged(chat_run)
    back = AutoModelForCausalLM.from_pretrained(f16_export, gguf_file="model.f16.gguf", dtype=torch.float32)
    expected, got = merged.state_dict(), back.state_dict()
    for name in ("model.layers.0.self_attn.q_proj.weight", "model.layers.1.self_attn.k_proj.weight",
                 "model.layers.0.mlp.down_proj.weight", "model.embed_tokens.weight"):
        # a q/k permutation missing or wrong on the way out would not come back as the same rows
        torch.testing.assert_close(got[name], expected[name], atol=2e-3, rtol=1e-2)


def test_the_file_carries_the_vocabulary_the_end_of_turn_token_and_the_chat_template(chat_run, f16_export):
    from gguf import GGUFReader

    _, tokenizer = _merged(chat_run)
    fields = GGUFReader(str(f16_export / "model.f16.gguf")).fields
    value = {name: fields[name].contents() for name in ("tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id",
                                                        "tokenizer.ggml.pre", "tokenizer.chat_template",
                                                        "tokenizer.ggml.model")}
    assert value["tokenizer.ggml.eos_token_id"] == value["tokenizer.ggml.eot_token_id"] == tokenizer.eos_token_id
    assert tokenizer.convert_ids_to_tokens(tokenizer.eos_token_id) == "<|im_end|>"
    assert value["tokenizer.ggml.pre"] == "smollm" and value["tokenizer.ggml.model"] == "gpt2"
    assert value["tokenizer.chat_template"] == tokenizer.chat_template
    assert len(fields["tokenizer.ggml.tokens"].data) == len(tokenizer)


def test_the_modelfile_template_renders_conversations_as_the_chat_template_does(chat_run, f16_export):
    from tailor.exports.modelfile import TurnPieces

    _, tokenizer = _merged(chat_run)
    pieces = TurnPieces.derive(tokenizer, tokenizer.eos_token)
    conversation = [("system", "You answer in French."), ("user", "Bonjour ?"), ("assistant", "Bonjour !"),
                    ("user", "Qui es-tu ?")]
    rendered = tokenizer.apply_chat_template([{"role": r, "content": c} for r, c in conversation], tokenize=False,
                                             add_generation_prompt=True)
    assert pieces.render(conversation) == rendered
    text = (f16_export / "Modelfile").read_text()
    assert text.startswith("FROM ./model.f16.gguf\n")
    assert 'PARAMETER stop "<|im_end|>"' in text
    assert '{{ else if eq .Role "user" }}<|im_start|>user\n{{ .Content }}<|im_end|>\n' in text
    assert '{{ end }}{{ end }}<|im_start|>assistant\n"""' in text
    # SmolLM2's template adds its own system prompt to a conversation without one; so does the Modelfile
    assert f'SYSTEM """{pieces.default_system}"""' in text and "SmolLM" in pieces.default_system


def test_q8_0_is_the_default_and_reports_its_agreement(chat_run, tmp_path):
    out = tailor.export(chat_run, tmp_path / "q8", format="gguf")
    report = json.loads((out / "verification.json").read_text())
    assert report["variant"] == "q8_0" and (out / "model.q8_0.gguf").exists()
    assert 0 <= report["answers_identical"] <= report["prompts"] == 8
    assert set(report["answers_stopping_at_end_of_turn"]) == {"model", "export"}


def test_an_export_that_loses_the_end_of_turn_token_is_refused(chat_run, tmp_path, monkeypatch):
    from tailor.exports import gguf_folder

    original = gguf_folder.compare_answers

    def lost_eos(*args):
        return {**original(*args), "eos_is_end_of_turn": False}

    monkeypatch.setattr(gguf_folder, "compare_answers", lost_eos)
    with pytest.raises(ExportError, match=r"^the f16 GGUF export does not answer like the run's model \(its EOS is "
                                          "not the end-of-turn token, so llama.cpp would not stop"):
        tailor.export(chat_run, tmp_path / "x", format="gguf", quantize="f16")
    assert not (tmp_path / "x").exists() and (tmp_path / "x.rejected" / "verification.json").exists()


def test_an_export_whose_held_out_loss_rises_is_refused_unless_the_user_allows_it(chat_run, tmp_path, monkeypatch):
    from tailor.exports import gguf_folder

    monkeypatch.setattr(gguf_folder, "_losses", lambda *args: {"model": 1.0, "export": 1.2})
    with pytest.raises(ExportError, match=r"held-out loss 1.2000 > 1.05 x the run's 1.0000; a finer --quantize keeps "
                                          "more, or --max-loss-increase accepts it"):
        tailor.export(chat_run, tmp_path / "x", format="gguf", quantize="f16")
    out = tailor.export(chat_run, tmp_path / "y", format="gguf", quantize="f16", max_loss_increase=0.25)
    assert json.loads((out / "verification.json").read_text())["allowed_loss_increase"] == 0.25


def test_a_tokenizer_llama_cpp_would_split_differently_is_refused(chat_run, tmp_path, monkeypatch):
    from tailor.exports import gguf

    monkeypatch.setattr(gguf, "KNOWN_PRE_TOKENIZERS", {})
    with pytest.raises(ExportError, match="llama.cpp would split text differently from this model's tokenizer"):
        tailor.export(chat_run, tmp_path / "x", format="gguf")
    assert not (tmp_path / "x").exists()


def test_formats_belong_to_their_tasks(chat_run, tmp_path, request):
    with pytest.raises(ConfigError, match="--format onnx is for the classic tasks' runs; this is a chat run: export "
                                          "it with --format hf or --format gguf"):
        tailor.export(chat_run, tmp_path / "x", format="onnx")
    (tmp_path / "text").mkdir()
    classifier = train_tiny_run("text-classification", tmp_path / "text", request, max_steps=1)
    with pytest.raises(ConfigError, match="--format gguf is for chat runs"):
        tailor.export(classifier, tmp_path / "y", format="gguf")
    with pytest.raises(ConfigError, match="--quantize q5_k: a GGUF export is one of f16, q8_0, q4_0"):
        tailor.export(chat_run, tmp_path / "z", format="gguf", quantize="q5_k")
