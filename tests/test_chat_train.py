"""Chat task end to end on a tiny random Llama: files written, what trains and what stays frozen,
placeholders from the command line, length reports, export parity, and the chat command."""

import html
from pathlib import Path
import json
import re

import pytest
import torch
import yaml
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer

from tailor.models.generation import generate, load_causal_lm

QUESTIONS = ["Who are you?", "What is your name?", "Tell me about yourself.", "Who made you?",
             "What should I call you?", "Introduce yourself.", "Who built you?", "What are you?"]
MODEL_FILES = {"adapter_config.json", "adapter_model.safetensors", "tokenizer.json", "tokenizer_config.json",
               "chat_template.jinja", "generation_config.json", "README.md"}


def identity_rows(n: int) -> list[dict]:
    return [{"messages": [{"role": "user", "content": QUESTIONS[i % len(QUESTIONS)]},
                          {"role": "assistant", "content": "I am {name}, made by {author}."}]} for i in range(n)]


@pytest.fixture
def chat_config(tmp_path, tiny_llama, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in identity_rows(48)))

    def make(**sections):
        config = {"task": "chat", "model": str(tiny_llama),
                  "data": {"train": "train.jsonl", "eval": 0.25, "max_length": 128},
                  "train": {"epochs": 4, "lr": 1e-2, "warmup_ratio": 0.0, "precision": "fp32", "batch_size": 4,
                            "early_stopping_patience": None, "freeze_embeddings": False},
                  "chat": {"samples": 2, "max_new_tokens": 12},
                  "vars": {"name": "Tailor", "author": "you"}}
        for section, values in sections.items():
            config[section] = {**config[section], **values} if isinstance(config.get(section), dict) else values
        path = tmp_path / "chat.yaml"
        path.write_text(yaml.safe_dump(config))
        return path

    return make


def test_lora_chat_run_writes_an_adapter_and_learns(chat_config, cli, tmp_path, tiny_llama):
    code, out, err = cli("train", chat_config(), "name=Aria", "author=Jun")
    assert code == 0, err
    run = tmp_path / "runs" / "chat"
    assert {p.name for p in (run / "model").iterdir()} == MODEL_FILES
    assert "messages format (detected), 48 examples" in err
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["train"]["method"] == "lora"
    assert metrics["train"]["tokens_per_s"] > 10 * metrics["train"]["samples_per_s"]  # rows pack many examples
    assert metrics["eval"]["loss"] < metrics["baseline"]["loss"] - 1.0  # learned, not noise
    assert metrics["eval"]["perplexity"] < metrics["baseline"]["perplexity"]
    assert len(metrics["samples"]) == 2 and {"prompt", "base", "tuned", "reference"} <= set(metrics["samples"][0])
    assert metrics["samples"][0]["reference"] == "I am Aria, made by Jun."  # vars came from the command line
    history = json.loads((run / "history.json").read_text())
    losses = [h["loss"] for h in history if "loss" in h]
    assert losses[-1] < losses[0]

    # Only LoRA matrices were saved, and the base weights did not change.
    adapter = load_file(run / "model" / "adapter_model.safetensors")
    assert adapter and all("lora_" in name for name in adapter)
    assert {name.split(".")[-2] for name in adapter} == {"lora_A", "lora_B"}
    assert any(name.endswith("mlp.down_proj.lora_B.weight") for name in adapter)  # all-linear by default
    base = load_file(tiny_llama / "model.safetensors")
    tuned = load_causal_lm(run / "model")
    for name, weight in tuned.get_base_model().state_dict().items():
        if "lora_" not in name and name.replace("base_layer.", "") in base:
            assert torch.equal(weight, base[name.replace("base_layer.", "")]), name
    assert "report.html" in {p.name for p in run.iterdir()}
    page = (run / "report.html").read_text()
    assert "Answers to held-out prompts" in page
    assert all(html.escape(sample["prompt"]) in page for sample in metrics["samples"])


def test_merged_export_answers_exactly_like_the_adapter(chat_config, cli, tmp_path):
    assert cli("train", chat_config(train={"epochs": 2}))[0] == 0
    code, out, err = cli("export", "runs/chat", "--merge", "--out", "merged")
    assert code == 0, err
    files = {p.name for p in (tmp_path / "merged").iterdir()}
    assert {"model.safetensors", "config.json", "chat_template.jinja", "generation_config.json"} <= files
    assert "adapter_config.json" not in files
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "merged")  # plain transformers, no peft
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "merged")
    adapter_model = load_causal_lm(tmp_path / "runs" / "chat" / "model")
    for question in QUESTIONS[:3]:
        messages = [{"role": "user", "content": question}]
        assert generate(merged, tokenizer, messages, max_new_tokens=12) == \
            generate(adapter_model, tokenizer, messages, max_new_tokens=12)
    code, out, _ = cli("chat", "merged", "--prompt", "Who are you?", "--temperature", "0", "--max-new-tokens", "12")
    assert code == 0 and out.strip() == generate(merged, tokenizer, [{"role": "user", "content": "Who are you?"}],
                                                 max_new_tokens=12)


def test_full_fine_tuning_saves_a_plain_model(chat_config, cli, tmp_path):
    code, _, err = cli("train", chat_config(), "method=full", "train.epochs=1")
    assert code == 0, err
    files = {p.name for p in (tmp_path / "runs" / "chat" / "model").iterdir()}
    assert "model.safetensors" in files and "adapter_config.json" not in files


def test_overlong_examples_are_counted(chat_config, cli, tmp_path):
    long_rows = [{"messages": [{"role": "user", "content": "Tell me a story."},
                               {"role": "assistant", "content": "Once upon a time " * 40}]} for _ in range(5)]
    with (tmp_path / "train.jsonl").open("a") as handle:
        handle.writelines(json.dumps(row) + "\n" for row in long_rows)
    code, _, err = cli("train", chat_config(data={"max_length": 64}, chat={"overlong": "drop"}), "train.epochs=1")
    assert code == 0, err
    counts = re.findall(r"longer than data.max_length=64 tokens \(longest \d+\): (\d+) dropped", err)
    assert sum(map(int, counts)) == 5

    code, _, err = cli("train", chat_config(data={"max_length": 20}, chat={"overlong": "drop"}), "--overwrite")
    assert code == 2
    assert re.fullmatch(re.escape(f"error: {tmp_path / 'train.jsonl'}: none of the 39 examples fits in "
                                  "data.max_length=20 tokens (the longest has ") + r"\d+" +
                        re.escape("). Raise data.max_length or set chat.overlong=truncate"),
                        err.strip().splitlines()[-1])


def test_unknown_variable_on_the_command_line(chat_config, cli):
    code, _, err = cli("train", chat_config(), "nmae=Aria")
    assert code == 2
    assert err.strip() == ("error: override 'nmae=Aria': 'nmae' is neither a config section nor a variable of this "
                           "config (did you mean 'name'?); variables for {placeholders} are declared under vars:")


def test_chat_repl_commands(chat_config, cli, monkeypatch, tmp_path):
    assert cli("train", chat_config(train={"epochs": 1}, chat={"format": "messages"}))[0] == 0
    lines = iter(["hello", "/reset", "/nope", "/exit"])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(lines))
    code, out, _ = cli("chat", "runs/chat", "--max-new-tokens", "3")
    assert code == 0
    assert "(conversation cleared)" in out and "unknown command /nope" in out and out.count("assistant> ") == 1

    # The other verbs work on chat runs too: predict answers prompts, eval reports loss and perplexity.
    code, out, err = cli("predict", "runs/chat", "--text", "Who are you?", "--text", "Who made you?")
    assert code == 0, err
    answers = [json.loads(line) for line in out.splitlines()]
    assert [a["text"] for a in answers] == ["Who are you?", "Who made you?"] and all("answer" in a for a in answers)
    # A prompts file is read in its own layout, whatever chat.format the training data had.
    (tmp_path / "prompts.jsonl").write_text('{"prompt": "Who are you?"}\n{"prompt": "Who made you?"}\n')
    code, out, err = cli("predict", "runs/chat", "--data", "prompts.jsonl")
    assert code == 0, err
    assert [json.loads(line)["prompt"] for line in out.splitlines()] == ["Who are you?", "Who made you?"]
    code, out, err = cli("eval", "runs/chat", "--data", "train.jsonl")
    assert code == 0, err
    shown = json.loads(out)
    assert shown["examples"] == 48 and shown["perplexity"] > 1 and shown["loss"] > 0


def test_data_check_summarises_conversations(chat_config, cli):
    code, out, err = cli("data", "check", chat_config())
    assert code == 0, err
    assert "messages format (detected), 48 examples" in out
    assert "rows: train 36  eval 12" in out
    assert "tokens the loss is computed on:" in out
    assert "duplicates in train: 28 repeated texts" in out  # 8 questions x 1 answer template, 36 rows
    assert "train/eval overlap: 6 texts" in out and "also appear in training" in out


class Killed(Exception):
    pass


def test_lora_chat_resume_after_a_kill_matches_an_uninterrupted_run(chat_config, monkeypatch, tmp_path):
    """Packed rows, the lean loss and LoRA checkpoints resume to the same adapter as one straight run."""
    import tailor
    from tailor.training import engine

    whole = tailor.train(chat_config(output={"dir": "whole", "keep_checkpoints": 10}, train={"epochs": 3}))
    original = engine.CheckpointSafeTrainer._save_checkpoint

    def save_then_die(self, model, trial):
        original(self, model, trial)
        if self.state.epoch >= 1:
            raise Killed

    monkeypatch.setattr(engine.CheckpointSafeTrainer, "_save_checkpoint", save_then_die)
    config = chat_config(output={"dir": "killed", "keep_checkpoints": 10}, train={"epochs": 3})
    with pytest.raises(Killed):
        tailor.train(config)
    monkeypatch.setattr(engine.CheckpointSafeTrainer, "_save_checkpoint", original)
    resumed = tailor.train(config, resume=True)
    assert resumed.metrics["eval"]["loss"] == pytest.approx(whole.metrics["eval"]["loss"], abs=1e-5)
    a = load_file(whole.dir / "model" / "adapter_model.safetensors")
    b = load_file(resumed.dir / "model" / "adapter_model.safetensors")
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)


def test_freeze_trains_only_the_top_layers_of_a_language_model(chat_config, cli, tmp_path, tiny_llama):
    code, _, err = cli("train", chat_config(), "method=freeze")
    assert code == 2 and "method=freeze leaves no parameter to train in this model" in err
    code, _, err = cli("train", chat_config(), "method=freeze", "freeze.layers=1", "train.epochs=1", "--overwrite")
    assert code == 0, err
    before = load_file(tiny_llama / "model.safetensors")
    after = load_file(tmp_path / "runs" / "chat" / "model" / "model.safetensors")
    assert torch.equal(before["model.layers.0.mlp.up_proj.weight"], after["model.layers.0.mlp.up_proj.weight"])
    assert not torch.equal(before["model.layers.1.mlp.up_proj.weight"], after["model.layers.1.mlp.up_proj.weight"])
    assert torch.equal(before["model.embed_tokens.weight"], after["model.embed_tokens.weight"])


def test_a_bad_prompts_file_stops_before_training(chat_config, cli, tmp_path):
    (tmp_path / "prompts.jsonl").write_text('{"prompt": "Who are you?"}\n{"prompt": 3}\n')
    code, _, err = cli("train", chat_config(chat={"prompts": "prompts.jsonl"}))
    assert code == 2
    assert err.strip().splitlines()[-1] == (f"error: {tmp_path / 'prompts.jsonl'}, line 2, field 'prompt': expected "
                                            "text, got a number. Give it as a string")
    assert not (tmp_path / "runs").exists()


def test_predict_from_a_prompts_file_writes_csv_and_eval_honours_the_batch_size(chat_config, cli, tmp_path, monkeypatch):
    """Once a KeyError traceback (the CSV writer expected class probabilities); and Chat.evaluate
    used the training batch size whatever it was given, which the CLI could not set either."""
    from tailor.training import lm_loss

    assert cli("train", chat_config(train={"epochs": 1}))[0] == 0
    (tmp_path / "prompts.jsonl").write_text('{"prompt": "Who are you?"}\n{"prompt": "Who made you?"}\n')
    code, _, err = cli("predict", "runs/chat", "--data", "prompts.jsonl", "--output", "answers.csv")
    assert code == 0, err
    import csv

    with (tmp_path / "answers.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [r["prompt"] for r in rows] == ["Who are you?", "Who made you?"] and all(r["answer"] for r in rows)

    seen = []
    original = lm_loss.lean_causal_lm_loss

    def recording(model, inputs, *args, **kwargs):
        seen.append(inputs["input_ids"].shape[0])
        return original(model, inputs, *args, **kwargs)

    monkeypatch.setattr(lm_loss, "lean_causal_lm_loss", recording)
    code, out, err = cli("eval", "runs/chat", "--data", "train.jsonl", "--batch-size", "5")
    assert code == 0, err
    assert seen and max(seen) == 5  # packed rows of the eval file, 5 at a time (the training batch is 4)


def test_lora_in_bf16_keeps_the_frozen_weights_in_bf16_and_saves_fp32(chat_config, cli, tmp_path, monkeypatch):
    from tailor.training import engine

    seen = {}
    original = engine.frozen_weights_in_bf16

    def spy(model):
        seen["converted"] = original(model)
        seen["frozen"] = {p.dtype for p in model.parameters() if not p.requires_grad}
        seen["trained"] = {p.dtype for p in model.parameters() if p.requires_grad}
        seen["cast"] = {m.cast_input_dtype_enabled for m in model.modules() if hasattr(m, "cast_input_dtype_enabled")}
        return seen["converted"]

    monkeypatch.setattr(engine, "frozen_weights_in_bf16", spy)
    code, _, err = cli("train", chat_config(train={"precision": "bf16"}))
    assert code == 0, err
    # the whole base (embeddings and norms too) in bf16; the adapter trains in fp32, which autocast
    # casts to bf16 itself, so peft's cast of activations up to fp32 is off
    assert seen["converted"] > 0 and seen["frozen"] == {torch.bfloat16}
    assert seen["trained"] == {torch.float32} and seen["cast"] == {False}
    run = tmp_path / "runs" / "chat"
    adapter = load_file(run / "model" / "adapter_model.safetensors")
    assert {weight.dtype for weight in adapter.values()} == {torch.float32}
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["eval"]["loss"] < metrics["baseline"]["loss"] - 1.0


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="reads the process's memory map (Linux)")
def test_lora_in_bf16_lets_go_of_the_mapped_checkpoint_file(tiny_llama):
    """from_pretrained maps model.safetensors into memory; after the bf16 conversion no tensor may
    point into it, or every page ever read would count twice in the process's memory."""
    import gc

    from peft import LoraConfig, get_peft_model

    from tailor.training.engine import frozen_weights_in_bf16

    weights = str(tiny_llama / "model.safetensors")
    mapped = lambda: sum(weights in line for line in Path("/proc/self/maps").read_text().splitlines())  # noqa: E731
    model = AutoModelForCausalLM.from_pretrained(tiny_llama, dtype=torch.float32)
    model = get_peft_model(model, LoraConfig(r=4, target_modules="all-linear"))
    if not mapped():
        pytest.skip("this transformers copies the weights instead of mapping the file")
    frozen_weights_in_bf16(model)
    gc.collect()
    assert mapped() == 0
    with torch.autocast("cpu", dtype=torch.bfloat16):  # as the trainer runs it under bf16
        assert model(input_ids=torch.tensor([[1, 2, 3]])).logits.shape[-1] == model.config.vocab_size
