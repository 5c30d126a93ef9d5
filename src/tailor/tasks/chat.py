"""Chat / instruction tuning of a causal LM: your own assistant (persona, domain, tone).

Conversations are rendered by the model's own chat template; the loss covers the assistant's
turns (and the end-of-turn token, so the tuned model stops); short examples are packed into rows
with no attention across them; the loss computes logits only where there is a target.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field as Option

from tailor.config import Config, TaskOptions
from tailor.data.examples import Examples
from tailor.data.loading import TaskData
from tailor.tasks.base import Encoded, Metric, TokenizedText


class ChatOptions(TaskOptions):
    format: Literal["auto", "messages", "sharegpt", "alpaca", "prompt-completion", "text"] = Option(
        "auto", description="the layout of the training file; auto detects it from the keys of the rows")
    train_on: Literal["assistant", "all"] = Option("assistant", description="which tokens the loss is computed on")
    packing: bool = Option(True, description="pack short examples into rows of data.max_length tokens (no "
                                             "attention across examples)")
    overlong: Literal["truncate", "drop"] = Option("truncate", description="cut an example longer than "
                                                                         "data.max_length, or leave it out (counted)")
    prompts: Path | None = Option(None, description="held-out prompts (a file in any chat format, or a column "
                                                    "`prompt`) answered by the base and the tuned model in the "
                                                    "report; default: prompts of the eval data")
    samples: int = Option(4, ge=0, description="how many prompts the report shows answers for")
    max_new_tokens: int = Option(96, gt=0, description="longest answer generated for the report and by "
                                                      "`tailor predict`")
    temperature: float = Option(0.0, ge=0, description="sampling temperature of those answers; 0 = greedy "
                                                      "(deterministic)")
    top_p: float = Option(1.0, gt=0, le=1, description="nucleus sampling of those answers (with temperature > 0)")


class Chat(TokenizedText):  # its tokenizer; the packed collator is its own
    name: ClassVar[str] = "chat"
    summary: ClassVar[str] = "instruction / chat tuning of a small LLM: your own assistant (LoRA by default)"
    default_model: ClassVar[str] = "smollm2"
    Options: ClassVar = ChatOptions
    metrics: ClassVar = (Metric("loss", greater_is_better=False), Metric("perplexity", greater_is_better=False))
    targets: ClassVar[str] = "text"
    processor_kind: ClassVar[str] = "tokenizer"
    columns: ClassVar[tuple] = ()  # conversations are found by their format (chat.format), not by column keys
    pipeline_tag: ClassVar[str] = "text-generation"
    pipeline_input: ClassVar[str] = '[{"role": "user", "content": "Who are you?"}], max_new_tokens=128'
    peft_task_type: ClassVar[str] = "CAUSAL_LM"
    export_formats: ClassVar[tuple[str, ...]] = ("hf", "gguf")
    lora_head: ClassVar[tuple] = ()
    # 2,048 tokens a step in packed rows as long as the longest example needs (at most 512: 4 rows
    # of 512, 8 of 256, ...), activations recomputed in the backward pass: measured against TRL's
    # defaults in benchmarks/ (1024-token rows cost more time in attention and more memory).
    defaults: ClassVar[dict] = {"method": "lora", "data.max_length": 512, "train.batch_tokens": 2048,
                                "train.batch_size": 64,  # the cap on rows of a step
                                "train.gradient_checkpointing": True, "lora.targets": "all-linear",
                                "eval.batch_size": 8,  # packed rows of 512 tokens: 8 bound the memory
                                "train.epochs": 3}
    stratify_by: ClassVar[None] = None
    # The rate is for 2,048 tokens a step whatever the rows' length: a step then holds about the
    # same number of conversations, so the rate is not scaled by its rows (packed rows are not examples).
    lr_reference_rows: ClassVar[None] = None
    # sdpa: rows of 512 packed tokens trained 1.1-1.2x faster than with eager (SmolLM2, LoRA, CPU);
    # rows of 256 (8 a step, bf16 base): 3.44 s a step vs 3.55 s with eager (issue 17).
    cpu_attention: ClassVar[None] = None
    cpu_precision: ClassVar[None] = None

    def read(self, path: Path, cfg: Config, *, targets: bool = True, split: str = "train") -> Examples:
        """Conversations (with targets), or prompts to answer (without: `tailor predict --data`)."""
        from tailor.data.conversations import detect_format, read_conversations, read_prompts
        from tailor.data.readers import read_table

        options = cfg.options
        table = read_table(path, encoding=cfg.data.encoding, split=split)
        if not targets:  # a prompts file has its own layout, whatever the training data's was
            return read_prompts(table, "auto", cfg.vars)
        fmt = detect_format(table) if options.format == "auto" else options.format
        examples = read_conversations(table, fmt, cfg.vars, cfg.data.on_invalid)
        how = "detected" if options.format == "auto" else "chat.format"
        examples.notes.append(f"{Path(path).name}: {fmt} format ({how}), {len(examples):,} examples")
        return examples

    def build_model(self, location: str, cfg: Config, data: TaskData, **load_kwargs):
        import torch
        from transformers import AutoModelForCausalLM

        return AutoModelForCausalLM.from_pretrained(location, dtype=torch.float32, **load_kwargs)

    def encode(self, examples: Examples, tokenizer, cfg: Config, labels: list[str] | None, *,
               training: bool = False) -> Encoded:
        options = cfg.options
        if "messages" in examples.columns:  # plain text (continued pre-training) needs no template
            require_chat_template(tokenizer)
        values = examples.columns.get("messages") or examples.columns["text"]
        return encode_conversations(values, tokenizer, cfg.data.max_length, examples.path, train_on=options.train_on,
                                    overlong=options.overlong, packing=options.packing)

    def collator(self, tokenizer, cfg: Config):
        from tailor.training.packing import PackedCollator

        return PackedCollator.for_tokenizer(tokenizer)

    def loss(self, cfg: Config, data: TaskData):
        """Logits only where a token is trained, a chunk at a time (see training/lm_loss.py)."""
        from tailor.training.lm_loss import lean_causal_lm_loss

        return lambda model, inputs, num_items_in_batch: (lean_causal_lm_loss(model, inputs, num_items_in_batch), None)

    def training_metrics(self, cfg: Config, labels: list[str]):
        return None  # the eval loss picks the best checkpoint

    def baselines(self, model, tokenizer, data: TaskData, cfg: Config, base_location: str) -> dict:
        """Eval loss and perplexity of the model before tuning."""
        with base_model(model, base_location) as base:
            before = self.evaluate(base, tokenizer, data.eval, cfg, cfg.eval.batch_size)
        return {"baseline": {"method": "base model (before tuning)", **before}}

    def samples(self, model, tokenizer, data: TaskData, cfg: Config, base_location: str) -> list[dict]:
        """Both models' greedy answers to held-out prompts, for the report."""
        prompts = self._report_prompts(data, cfg)
        tuned = _answers(model, tokenizer, prompts, cfg)
        with base_model(model, base_location) as base:
            before = _answers(base, tokenizer, prompts, cfg)
        return [{"prompt": p.messages[-1]["content"], "system": p.system, "reference": p.reference,
                 "base": b, "tuned": t} for p, b, t in zip(prompts, before, tuned)]

    def check(self, data: TaskData, tokenizer, cfg: Config) -> dict:
        from tailor.data.check import conversation_report

        return conversation_report(data, tokenizer, cfg)

    def report_sections(self, metrics: dict) -> list[tuple[str, str]]:
        from tailor.evaluation.report import samples_table

        return [("Answers to held-out prompts (greedy)", samples_table(metrics.get("samples")))]

    def read_extras(self, cfg: Config) -> dict:
        """The held-out prompts file for the report, read (and validated) before training starts."""
        if cfg.options.prompts is None:
            return {}
        return {"prompts": self.read(Path(cfg.options.prompts), cfg, targets=False)}

    def _report_prompts(self, data: TaskData, cfg: Config):
        return self.held_out_prompts(data)[: cfg.options.samples]

    def held_out_prompts(self, data: TaskData):
        """Prompts never trained on: the chat.prompts file when there is one, else the evaluation
        conversations cut before their last answer (the report and export checks answer these)."""
        from tailor.data.conversations import prompts_of

        if "prompts" in data.extras:
            examples = data.extras["prompts"]
        elif "messages" in data.eval.columns:
            examples = data.eval
        else:
            return []  # plain text (continued pre-training) has no prompts to answer
        return prompts_of(examples)

    def finish_saved_model(self, folder: Path, model, tokenizer, rebuild) -> None:
        """LoRA runs keep the adapter (small; `tailor export --merge` writes a standalone model); the
        generation config carries the stop token."""
        from tailor.training.lm_loss import causal_lm

        causal_lm(model).generation_config.save_pretrained(folder)

    def load_model(self, folder: Path, **load_kwargs):
        from tailor.models.generation import load_causal_lm

        return load_causal_lm(folder, **load_kwargs)

    def evaluate(self, model, tokenizer, examples: Examples, cfg: Config, batch_size: int) -> dict:
        """Token-weighted loss over the trained tokens, and its perplexity."""
        from tailor.data.chat_tokens import IGNORE
        from tailor.training.inference import device_batches
        from tailor.training.lm_loss import lean_causal_lm_loss

        encoded = self.encode(examples, tokenizer, cfg, labels=None)
        total, tokens = 0.0, 0
        for _, batch in device_batches(model, encoded, self.collator(tokenizer, cfg), batch_size):
            total += float(lean_causal_lm_loss(model, batch, num_items_in_batch=1))
            tokens += int((batch["labels"][:, 1:] != IGNORE).sum())
        loss = total / max(tokens, 1)
        return {"loss": round(loss, 6), "perplexity": round(math.exp(min(loss, 50)), 4), "tokens": tokens,
                "examples": len(examples)}

    def predict(self, model, tokenizer, examples: Examples, cfg: Config, batch_size: int) -> list[dict]:
        from tailor.data.conversations import prompts_of

        prompts = prompts_of(examples)
        answers = _answers(model, tokenizer, prompts, cfg, batch_size)
        if "text" in examples.columns:  # texts from the command line: the caller shows them beside the answers
            return [{"answer": answer} for answer in answers]
        # From a file: each answer beside the question it answers (and the file's own answer, if any).
        return [{"prompt": p.messages[-1]["content"], **({"reference": p.reference} if p.reference else {}),
                 "answer": answer} for p, answer in zip(prompts, answers)]


def encode_conversations(values: list, tokenizer, max_length: int, path: Path, *, train_on: str, overlong: str,
                         packing: bool, section: str = "chat") -> Encoded:
    """Conversations (or plain texts) -> token rows: rendered by the chat template, labelled where the
    loss is computed, fitted to max_length (what is cut or dropped counted), packed or one per row."""
    from datasets import Dataset

    from tailor.data.chat_tokens import LengthReport, encode_example, fit_length
    from tailor.training.packing import build_rows, row_capacity

    encoded, truncated, dropped, longest = [], 0, 0, 0
    for value in values:
        example = encode_example(tokenizer, value, train_on)
        longest = max(longest, len(example.input_ids))
        fitted = fit_length(example, max_length, overlong)
        if fitted is None:
            dropped += 1
            continue
        truncated += len(fitted.input_ids) < len(example.input_ids)
        encoded.append(fitted)
    if not encoded:
        from tailor.errors import DataError

        raise DataError(path, f"none of the {len(values)} examples fits in data.max_length={max_length} tokens "
                        f"(the longest has {longest})", f"Raise data.max_length or set {section}.overlong=truncate")
    report = LengthReport(truncated, dropped, len(values), max_length, longest)
    capacity = row_capacity(max(len(e.input_ids) for e in encoded), max_length)
    rows = build_rows(encoded, capacity, packing)
    return Encoded(Dataset.from_dict(rows), [len(ids) for ids in rows["input_ids"]], report)


def _answers(model, tokenizer, prompts, cfg: Config, batch_size: int = 8) -> list[str]:
    """The answers to `prompts`, `batch_size` decoded together, as chat.* sets generation."""
    from tailor.models.decoding import Sampling
    from tailor.models.generation import answer_all

    options = cfg.options
    sampling = Sampling(max_new_tokens=options.max_new_tokens, temperature=options.temperature, top_p=options.top_p)
    replies = answer_all(model, tokenizer, [p.messages for p in prompts], sampling, max_rows=batch_size)
    return [reply.text.strip() for reply in replies]


@contextmanager
def base_model(model, base_source: str):
    """The model before tuning: the same weights with the LoRA adapter switched off, or (after full
    or freeze tuning) the base weights loaded again."""
    if hasattr(model, "disable_adapter"):
        with model.disable_adapter():
            yield model
    else:
        from tailor.models.text_to_text import load_text_writer

        yield load_text_writer(base_source)


def require_chat_template(tokenizer, otherwise: str = "chat.format=text for plain text") -> None:
    from tailor.errors import ModelError

    if not getattr(tokenizer, "chat_template", None):
        raise ModelError("this model's tokenizer has no chat template, so conversations cannot be rendered the way "
                         f"it will be prompted; use an instruct/chat model, or {otherwise}")
