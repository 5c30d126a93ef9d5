"""Loading a causal LM (plain or with a LoRA adapter) and answering a conversation with it."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch

from tailor.data.chat_tokens import render_prompt
from tailor.models.decoding import Reply, Sampling, generate_all


def load_causal_lm(folder: str | Path, **load_kwargs):
    """A model/ folder (full weights, or a LoRA adapter whose config names its base) or a base model."""
    import transformers

    quiet_loading()
    folder = Path(folder)
    if (folder / "adapter_config.json").exists():
        from peft import AutoPeftModelForCausalLM

        return AutoPeftModelForCausalLM.from_pretrained(folder, dtype=torch.float32, **load_kwargs)
    return transformers.AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, **load_kwargs)


def quiet_loading() -> None:
    """No per-tensor loading bar; and peft still calls a transformers property that now warns on every
    use, with nothing for users to do."""
    import transformers

    transformers.utils.logging.disable_progress_bar()
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)


def stop_token_ids(model, tokenizer) -> list[int]:
    """Generation stops at the tokenizer's EOS (the end-of-turn token of chat templates) and at
    whatever the model's generation config lists."""
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids = configured if isinstance(configured, list) else [configured]
    ids = [i for i in ids + [tokenizer.eos_token_id] if i is not None]
    return list(dict.fromkeys(ids))


def generate(model, tokenizer, messages: list[dict], *, max_new_tokens: int = 256, temperature: float = 0.0,
             top_p: float = 1.0, on_text=None) -> str:
    """The model's answer to `messages`, rendered by its chat template. temperature 0 = greedy;
    `on_text(piece)` receives the answer as it grows."""
    sampling = Sampling(max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p)
    return answer_all(model, tokenizer, [messages], sampling, on_text=on_text)[0].text.strip()


def answer_ids(model, tokenizer, messages: list[dict], *, max_new_tokens: int = 256) -> list[int]:
    """The greedy answer's token ids, the stop token included when the model stopped."""
    reply = answer_all(model, tokenizer, [messages], Sampling(max_new_tokens=max_new_tokens))[0]
    return reply.ids + ([stop_token_ids(model, tokenizer)[0]] if reply.finish_reason == "stop" else [])


def answer_all(model, tokenizer, conversations: list[list[dict]], sampling: Sampling, *, on_text=None,
               max_rows: int = 8) -> list[Reply]:
    """Every conversation answered, `max_rows` decoded together (models/decoding.py)."""
    replies = [Reply(render_prompt(tokenizer, messages), sampling, on_text=on_text) for messages in conversations]
    model.eval()
    return generate_all(model, tokenizer, replies, stop_token_ids(model, tokenizer), max_rows=max_rows)
