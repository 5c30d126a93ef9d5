"""An embedded model shipped as a GGUF file -> a plain fp32 Hugging Face folder, converted once.

transformers can read GGUF, but the result is marked as quantized: it cannot be trained or saved.
So the first use dequantizes it to fp32 (about 20 s for SmolLM2-135M), drops the quantization
markers and writes a normal folder (safetensors, tokenizer with its chat template, generation
config) to the user cache; every later run loads that folder in about a second.
"""

from __future__ import annotations

from pathlib import Path


def convert(gguf_path: Path, folder: Path) -> None:
    """Write the plain fp32 folder of a GGUF model into `folder` (the catalog makes it atomic)."""
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    transformers.utils.logging.disable_progress_bar()
    tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    model = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    # GGUF loading marks the model as quantized, which blocks training and saving; the weights
    # are already dequantized to fp32, so the markers are dropped.
    if hasattr(model.config, "quantization_config"):
        delattr(model.config, "quantization_config")
    for attribute, plain in (("hf_quantizer", None), ("is_quantized", False)):
        if getattr(model, attribute, plain) != plain:
            setattr(model, attribute, plain)
    # GGUF carries no usable length limit (transformers reports ~1e30); the model's own is right.
    tokenizer.model_max_length = model.config.max_position_embeddings
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id

    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
