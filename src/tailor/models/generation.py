"""Loading a causal LM (plain or with a LoRA adapter) and answering a conversation with it."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch

from tailor.data.chat_tokens import render_prompt


def load_causal_lm(folder: str | Path, **load_kwargs):
    """A model/ folder (full weights, or a LoRA adapter whose config names its base) or a base model."""
    import transformers

    transformers.utils.logging.disable_progress_bar()
    # peft still calls a transformers property that now warns on every use; nothing for users to do.
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
    folder = Path(folder)
    if (folder / "adapter_config.json").exists():
        from peft import AutoPeftModelForCausalLM

        return AutoPeftModelForCausalLM.from_pretrained(folder, dtype=torch.float32, **load_kwargs)
    return transformers.AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, **load_kwargs)


def stop_token_ids(model, tokenizer) -> list[int]:
    """Generation stops at the tokenizer's EOS (the end-of-turn token of chat templates) and at
    whatever the model's generation config lists."""
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids = configured if isinstance(configured, list) else [configured]
    ids = [i for i in ids + [tokenizer.eos_token_id] if i is not None]
    return list(dict.fromkeys(ids))


def generate(model, tokenizer, messages: list[dict], *, max_new_tokens: int = 256, temperature: float = 0.0,
             top_p: float = 1.0, streamer=None) -> str:
    """The model's answer to `messages`, rendered by its chat template. temperature 0 = greedy."""
    ids = answer_ids(model, tokenizer, messages, max_new_tokens=max_new_tokens, temperature=temperature,
                     top_p=top_p, streamer=streamer)
    return tokenizer.decode(ids, skip_special_tokens=True).strip()


def answer_ids(model, tokenizer, messages: list[dict], *, max_new_tokens: int = 256, temperature: float = 0.0,
               top_p: float = 1.0, streamer=None) -> list[int]:
    """The answer's token ids, the stop token included when the model stopped."""
    ids = torch.tensor([render_prompt(tokenizer, messages)])
    device = next(model.parameters()).device
    stops = stop_token_ids(model, tokenizer)
    sampling = {"do_sample": True, "temperature": temperature, "top_p": top_p} if temperature > 0 else \
        {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
    model.eval()
    with torch.inference_mode():
        output = model.generate(input_ids=ids.to(device), attention_mask=torch.ones_like(ids).to(device),
                                max_new_tokens=max_new_tokens, eos_token_id=stops,
                                pad_token_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else stops[0],
                                streamer=streamer, **sampling)
    return output[0, ids.shape[1]:].tolist()
