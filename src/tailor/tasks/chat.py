"""Chat / instruction tuning of a causal LM: your own assistant (persona, domain, tone).

Conversations are rendered by the model's own chat template; the loss covers the assistant's
turns (and the end-of-turn token, so the tuned model stops); short examples are packed into rows
with no attention across them; the loss computes logits only where there is a target.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from pathlib import Path
from typing import ClassVar

from tailor.config import Config
from tailor.data.examples import Examples
from tailor.data.loading import TaskData
from tailor.training.lm_loss import causal_lm, lean_causal_lm_loss


class Chat:
    name: ClassVar[str] = "chat"
    summary: ClassVar[str] = "instruction / chat tuning of a small LLM: your own assistant (LoRA by default)"
    default_model: ClassVar[str] = "smollm2"
    auto_model: ClassVar[str] = "AutoModelForCausalLM"
    pipeline_tag: ClassVar[str] = "text-generation"
    peft_task_type: ClassVar[str] = "CAUSAL_LM"
    # Rows of 512 tokens, 4 per step, activations recomputed in the backward pass: measured against
    # TRL's defaults in benchmarks/ (1024-token rows cost more time in attention and more memory).
    defaults: ClassVar[dict] = {"method": "lora", "data.max_length": 512, "train.batch_size": 4,
                                "train.gradient_checkpointing": True, "eval.metric": "loss",
                                "lora.targets": "all-linear"}
    stratify_by: ClassVar[None] = None
    # sdpa: rows of 512 packed tokens trained 1.1-1.2x faster than with eager (SmolLM2, LoRA, CPU).
    cpu_attention: ClassVar[None] = None
    training_metrics: ClassVar[None] = None  # the eval loss picks the best checkpoint
    training_loss = staticmethod(lean_causal_lm_loss)

    def read_inputs(self, path: Path, cfg: Config, *, with_targets: bool = True, split: str = "train") -> Examples:
        """Conversations (with targets), or prompts to answer (without: `tailor predict --data`)."""
        from tailor.data.conversations import detect_format, read_conversations, read_prompts
        from tailor.data.readers import read_table

        table = read_table(path, encoding=cfg.data.encoding, split=split)
        if not with_targets:  # a prompts file has its own layout, whatever the training data's was
            return read_prompts(table, "auto", cfg.vars)
        fmt = detect_format(table) if cfg.data.format == "auto" else cfg.data.format
        examples = read_conversations(table, fmt, cfg.vars, cfg.data.on_invalid)
        how = "detected" if cfg.data.format == "auto" else "data.format"
        examples.notes.append(f"{Path(path).name}: {fmt} format ({how}), {len(examples):,} examples")
        return examples

    def fit_labels(self, train: Examples, evals: list[Examples], label_column: str = "") -> list[str]:
        return []

    def build_model(self, source: str, cfg: Config, data: TaskData, **load_kwargs):
        import torch
        from transformers import AutoModelForCausalLM

        return AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32, **load_kwargs)

    def preprocess(self, examples: Examples, tokenizer, cfg: Config, data: TaskData | None = None):
        from datasets import Dataset

        from tailor.data.chat_tokens import LengthReport, encode_example, fit_length
        from tailor.training.packing import build_rows

        _require_template(tokenizer, examples)
        encoded, truncated, dropped, longest = [], 0, 0, 0
        for value in examples.columns.get("messages") or examples.columns["text"]:
            example = encode_example(tokenizer, value, cfg.data.train_on)
            longest = max(longest, len(example.input_ids))
            fitted = fit_length(example, cfg.data.max_length, cfg.data.overlong)
            if fitted is None:
                dropped += 1
                continue
            truncated += len(fitted.input_ids) < len(example.input_ids)
            encoded.append(fitted)
        if not encoded:
            from tailor.errors import DataError

            raise DataError(examples.path, f"none of the {len(examples)} examples fits in data.max_length="
                            f"{cfg.data.max_length} tokens (the longest has {longest})",
                            "Raise data.max_length or set data.overlong=truncate")
        report = LengthReport(truncated, dropped, len(examples), cfg.data.max_length, longest)
        return Dataset.from_dict(build_rows(encoded, cfg.data.max_length, cfg.data.packing)), report

    def collator(self, tokenizer, cfg: Config):
        from tailor.training.packing import PackedCollator

        return PackedCollator(pad_token_id=_pad_id(tokenizer))

    def final_metrics(self, model, tokenizer, data: TaskData, cfg: Config, base_source: str) -> dict:
        """Eval loss and perplexity of the tuned and of the base model, and both models' answers to
        held-out prompts (greedy), for the report."""
        prompts = self._report_prompts(data, cfg)
        tuned = self.evaluate(model, tokenizer, data.eval, cfg, cfg.eval.batch_size)
        tuned_answers = _answers(model, tokenizer, prompts, cfg)
        with _base_model(model, base_source) as base:
            before = self.evaluate(base, tokenizer, data.eval, cfg, cfg.eval.batch_size)
            base_answers = _answers(base, tokenizer, prompts, cfg)
        samples = [{"prompt": p.messages[-1]["content"], "system": p.system, "reference": p.reference,
                    "base": b, "tuned": t} for p, b, t in zip(prompts, base_answers, tuned_answers)]
        return {"eval": tuned, "baseline": {"method": "base model (before tuning)", **before}, "samples": samples}

    def read_extras(self, cfg: Config) -> dict:
        """The held-out prompts file for the report, read (and validated) before training starts."""
        if cfg.eval.prompts is None:
            return {}
        return {"prompts": self.read_inputs(Path(cfg.eval.prompts), cfg, with_targets=False)}

    def _report_prompts(self, data: TaskData, cfg: Config):
        from tailor.data.conversations import prompts_of

        if "prompts" in data.extras:
            examples = data.extras["prompts"]
        elif "messages" in data.eval.columns:
            examples = data.eval
        else:
            return []  # plain text (continued pre-training) has no prompts to answer
        return prompts_of(examples)[: cfg.eval.samples]

    def save_model(self, model, tokenizer, folder: Path):
        """LoRA runs keep the adapter (small; `tailor export --merge` writes a standalone model);
        the tokenizer carries the chat template, the generation config the stop token."""
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        causal_lm(model).generation_config.save_pretrained(folder)
        return model

    def load_model(self, folder: Path):
        from tailor.models.generation import load_causal_lm

        return load_causal_lm(folder)

    def evaluate(self, model, tokenizer, examples: Examples, cfg: Config, batch_size: int) -> dict:
        """Token-weighted loss over the trained tokens, and its perplexity."""
        import torch

        from tailor.data.chat_tokens import IGNORE

        dataset, _ = self.preprocess(examples, tokenizer, cfg)
        collate = self.collator(tokenizer, cfg)
        rows_per_batch = max(1, cfg.train.batch_size)
        total, tokens = 0.0, 0
        model.eval()
        with torch.no_grad():
            for start in range(0, len(dataset), rows_per_batch):
                batch = collate([dataset[i] for i in range(start, min(start + rows_per_batch, len(dataset)))])
                total += float(lean_causal_lm_loss(model, batch, num_items_in_batch=1))
                tokens += int((batch["labels"][:, 1:] != IGNORE).sum())
        loss = total / max(tokens, 1)
        return {"loss": round(loss, 6), "perplexity": round(math.exp(min(loss, 50)), 4), "tokens": tokens,
                "examples": len(examples)}

    def predict(self, model, tokenizer, examples: Examples, cfg: Config, batch_size: int) -> list[dict]:
        from tailor.data.conversations import prompts_of

        prompts = prompts_of(examples)
        answers = _answers(model, tokenizer, prompts, cfg)
        if "text" in examples.columns:  # texts from the command line: the caller shows them beside the answers
            return [{"answer": answer} for answer in answers]
        # From a file: each answer beside the question it answers (and the file's own answer, if any).
        return [{"prompt": p.messages[-1]["content"], **({"reference": p.reference} if p.reference else {}),
                 "answer": answer} for p, answer in zip(prompts, answers)]


def _answers(model, tokenizer, prompts, cfg: Config) -> list[str]:
    from tailor.models.generation import generate

    return [generate(model, tokenizer, p.messages, max_new_tokens=cfg.eval.max_new_tokens) for p in prompts]


@contextmanager
def _base_model(model, base_source: str):
    """The model before tuning: the same weights with the LoRA adapter switched off, or (after full
    or freeze tuning) the base weights loaded again."""
    if hasattr(model, "disable_adapter"):
        with model.disable_adapter():
            yield model
    else:
        from tailor.models.generation import load_causal_lm

        yield load_causal_lm(base_source)


def _pad_id(tokenizer) -> int:
    """Padding is never attended to or trained on, so any id works; models without a pad token use EOS."""
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id


def _require_template(tokenizer, examples: Examples) -> None:
    from tailor.errors import ModelError

    if "messages" in examples.columns and not getattr(tokenizer, "chat_template", None):
        raise ModelError("this model's tokenizer has no chat template, so conversations cannot be rendered the way "
                         "it will be prompted; use an instruct/chat model, or data.format=text for plain text")
