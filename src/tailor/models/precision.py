"""A trained model made ready for answering: LoRA folded in, and the weights in the precision chosen.

- fp32: the weights as trained (lossless). A LoRA adapter is merged into its base weights first,
  which changes nothing in the answers and saves the adapter's extra matmuls at every layer.
- bf16: every weight in bfloat16 (half the bytes to read per token; fast matmuls on CPUs with
  AVX512-BF16 or AMX); floating inputs (pixels) are cast on the way in.
- int8 (chat runs): the model as an onnxruntime-genai graph with int8 weights (models/ort_genai.py),
  built once beside the run: a quarter of fp32's bytes, and none of eager PyTorch's per-op cost.
bf16 and int8 are lossy: `auto` (serving/precision_check.py) picks one only after its answers
matched fp32's on the run's held-out inputs.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from tailor.errors import ConfigError

PRECISIONS = ("fp32", "bf16", "int8", "auto")
LOSSY = ("int8", "bf16")  # what `auto` tries beside fp32


def native_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (else bf16 is emulated, and slower than fp32)."""
    return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()


def for_answers(model: nn.Module, precision: str, *, generates: bool, model_dir: Path | None = None):
    """The model in `precision` (fp32, bf16, int8), in eval mode; `generates`: a causal LM, whose
    saved folder `model_dir` an int8 graph is built from."""
    if precision not in ("fp32", "bf16", "int8"):
        raise ConfigError(f"--precision {precision}: choose one of {', '.join(PRECISIONS)}")
    if precision == "int8" and not generates:
        raise ConfigError("--precision int8 is for chat runs; for a classifier write an int8 ONNX export "
                          "(`tailor export RUN --format onnx --quantize int8 --out DIR`) and predict with it")
    model = _merged(model).eval()
    if precision == "int8":
        from tailor.models.ort_genai import Int8Model, int8_folder

        folder = int8_folder(answering_folder(model_dir), model_dir, model)
        return Int8Model(folder, model.config, getattr(model, "generation_config", None))
    if precision == "bf16":
        model = model.to(torch.bfloat16)
        model.register_forward_pre_hook(_inputs_to_bf16, with_kwargs=True)
    return model


def answering_folder(model_dir: Path) -> Path:
    """Where what answering builds from a model is kept: beside model/ in a run (RUN/answering), else
    in the user cache, one folder per model folder."""
    from tailor.runs import RunDir

    run = RunDir(model_dir.parent)
    if model_dir == run.model and run.config.is_file():
        return run.answering
    import hashlib

    from tailor.models.catalog import cache_root

    return cache_root() / "answering" / hashlib.sha1(str(model_dir.resolve()).encode()).hexdigest()[:16]


def weights_fingerprint(model_dir: Path) -> list:
    """Name, size and modification time of each weights file: what is built or checked from a model
    (the int8 graph, auto's record) is redone when these change."""
    return [[f.name, f.stat().st_size, int(f.stat().st_mtime)] for f in sorted(model_dir.glob("*.safetensors"))]


def _merged(model: nn.Module) -> nn.Module:
    from tailor.models.methods import merge_for_export

    return merge_for_export(model)


def _inputs_to_bf16(module, args, kwargs):
    def cast(value):
        return value.to(torch.bfloat16) if torch.is_tensor(value) and value.is_floating_point() else value

    return tuple(cast(a) for a in args), {k: cast(v) for k, v in kwargs.items()}
