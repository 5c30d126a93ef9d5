"""Models that write an output text for an input text: a chat LM given the input as its user's turn
(a decoder), or an encoder-decoder (T5, BART, Marian, mT5) given the input to its encoder."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

import torch

from tailor.errors import ModelError

DECODER, ENCODER_DECODER, ENCODER = "decoder", "encoder-decoder", "encoder"


@functools.lru_cache(maxsize=32)
def architecture(location: str) -> str:
    """DECODER, ENCODER_DECODER or ENCODER (BERT, MiniLM: it reads text but does not write it) for a
    model folder, hub id or LoRA adapter folder (whose peft task type says which)."""
    from transformers import AutoConfig

    adapter = Path(location) / "adapter_config.json"
    if adapter.is_file():
        task_type = json.loads(adapter.read_text(encoding="utf-8")).get("task_type")
        return ENCODER_DECODER if task_type == "SEQ_2_SEQ_LM" else DECODER
    config = AutoConfig.from_pretrained(location)
    if getattr(config, "is_encoder_decoder", False):
        return ENCODER_DECODER
    names = config.architectures or []
    return DECODER if any(name.endswith(("ForCausalLM", "LMHeadModel")) for name in names) else ENCODER


def writer_kind(location: str, bert2bert: bool = False) -> str:
    """How a model writes text: DECODER, or ENCODER_DECODER (an encoder too, warm-started as both halves
    of one with `bert2bert`); an encoder without it is an error saying what would work."""
    kind = architecture(location)
    if kind != ENCODER:
        return kind
    if not bert2bert:
        raise ModelError(f"model {location} is an encoder: it reads text but does not write it. seq2seq needs a chat "
                         "LM (the default, smollm2) or an encoder-decoder such as T5, BART, Marian or mT5; or set "
                         "seq2seq.bert2bert=true to start both halves of one from this encoder")
    return ENCODER_DECODER


def warm_started(location: str, **load_kwargs):
    """bert2bert (Rothe et al. 2020): an encoder-decoder whose encoder and decoder both start from this
    encoder's weights; the decoder's cross-attention is new. It starts each output with [CLS] and ends it
    with [SEP], as its tokenizer writes targets."""
    from transformers import AutoTokenizer, EncoderDecoderModel

    from tailor.models.loading import quiet_load_report

    tokenizer = AutoTokenizer.from_pretrained(location)
    with quiet_load_report():  # the new cross-attention weights are expected to be missing
        model = EncoderDecoderModel.from_encoder_decoder_pretrained(location, location, **load_kwargs)
    ids = {"decoder_start_token_id": tokenizer.cls_token_id, "eos_token_id": tokenizer.sep_token_id,
           "pad_token_id": tokenizer.pad_token_id}
    for config in (model.config, model.generation_config):
        for key, value in ids.items():
            setattr(config, key, value)
    return model


def is_encoder_decoder(model) -> bool:
    return bool(getattr(getattr(model, "config", None), "is_encoder_decoder", False))


def load_text_writer(folder: str | Path, **load_kwargs):
    """A saved model/ folder (full weights, or a LoRA adapter) or a base model, of either architecture
    (an encoder: warm-started as both halves of an encoder-decoder; the caller checked that is wanted)."""
    from tailor.models.generation import load_causal_lm, quiet_loading

    quiet_loading()
    kind = architecture(str(folder))
    if kind == DECODER:
        return load_causal_lm(folder, **load_kwargs)
    if kind == ENCODER:
        return warm_started(str(folder), **load_kwargs)
    if (Path(folder) / "adapter_config.json").exists():
        from peft import AutoPeftModelForSeq2SeqLM

        return AutoPeftModelForSeq2SeqLM.from_pretrained(folder, dtype=torch.float32, **load_kwargs)
    from transformers import AutoModelForSeq2SeqLM

    return AutoModelForSeq2SeqLM.from_pretrained(folder, dtype=torch.float32, **load_kwargs)


@dataclass(frozen=True)
class Writing:
    """How outputs are generated (the task's section: seq2seq.*)."""

    max_new_tokens: int = 128
    num_beams: int = 1
    length_penalty: float = 1.0


@torch.inference_mode()
def write_with_generate(model, tokenizer, inputs: list[list[int]], writing: Writing, *, stop_ids: list[int],
                        batch_size: int = 8) -> list[str]:
    """transformers' generate (beam search), `batch_size` inputs at a time: an encoder-decoder reads
    each input with its encoder; a decoder continues each prompt (left padded, so every row ends at
    its prompt's end and the new tokens start in one column)."""
    model.eval()
    encoder_decoder = is_encoder_decoder(model)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else stop_ids[0]
    device = next(model.parameters()).device
    outputs = []
    for start in range(0, len(inputs), batch_size):
        rows = inputs[start:start + batch_size]
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), pad, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            where = slice(0, len(row)) if encoder_decoder else slice(width - len(row), width)
            ids[i, where], mask[i, where] = torch.tensor(row), 1
        beams = {"num_beams": writing.num_beams, "length_penalty": writing.length_penalty} if writing.num_beams > 1 \
            else {"num_beams": 1}
        generated = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device),
                                   max_new_tokens=writing.max_new_tokens, do_sample=False, eos_token_id=stop_ids,
                                   pad_token_id=pad, **beams)
        new = generated if encoder_decoder else generated[:, width:]
        outputs += [text.strip() for text in tokenizer.batch_decode(new, skip_special_tokens=True)]
    return outputs
