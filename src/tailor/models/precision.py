"""A trained model made ready for answering: LoRA folded in, and the weights in the precision chosen.

- fp32: the weights as trained (lossless). A LoRA adapter is merged into its base weights first,
  which changes nothing in the answers and saves the adapter's extra matmuls at every layer.
- bf16: every weight in bfloat16 (half the bytes to read per token; fast matmuls on CPUs with
  AVX512-BF16 or AMX); floating inputs (pixels) are cast on the way in.
- int8 (causal LMs): each linear layer's weight in int8 with one scale per output row, multiplied
  by torch's weight-only int8 kernel on bf16 activations: a quarter of the bytes of fp32.
bf16 and int8 are lossy: `auto` (serving/precision_check.py) picks one only after its answers
matched fp32's on the run's held-out inputs.
"""

from __future__ import annotations

import torch
from torch import nn

from tailor.errors import ConfigError

PRECISIONS = ("fp32", "bf16", "int8", "auto")
LOSSY = ("int8", "bf16")  # in the order `auto` tries them: the fastest first


def native_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (else bf16 is emulated, and slower than fp32)."""
    return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()


def for_answers(model: nn.Module, precision: str, *, generates: bool) -> nn.Module:
    """The model in `precision` (fp32, bf16, int8), in eval mode; `generates`: a causal LM."""
    if precision not in ("fp32", "bf16", "int8"):
        raise ConfigError(f"--precision {precision}: choose one of {', '.join(PRECISIONS)}")
    if precision == "int8" and not generates:
        raise ConfigError("--precision int8 is for chat runs; for a classifier write an int8 ONNX export "
                          "(`tailor export RUN --format onnx --quantize int8 --out DIR`) and predict with it")
    model = _merged(model).eval()
    if precision == "fp32":
        return model
    model = model.to(torch.bfloat16)
    model.register_forward_pre_hook(_inputs_to_bf16, with_kwargs=True)
    if precision == "int8":
        _int8_linears(model)
    return model


class Int8Linear(nn.Module):
    """y = x W^T + b with W stored as int8 and one bf16 scale per output row (symmetric)."""

    def __init__(self, linear: nn.Linear):
        super().__init__()
        weight = linear.weight.detach().float()
        scale = weight.abs().amax(dim=1).clamp(min=1e-8) / 127
        self.register_buffer("weight_int8", torch.round(weight / scale[:, None]).clamp(-127, 127).to(torch.int8))
        self.register_buffer("scale", scale.to(torch.bfloat16))
        self.bias = None if linear.bias is None else nn.Parameter(linear.bias.detach().to(torch.bfloat16),
                                                                requires_grad=False)
        self.in_features, self.out_features = linear.in_features, linear.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(-1, self.in_features).to(torch.bfloat16)
        y = torch._weight_int8pack_mm(flat, self.weight_int8, self.scale).reshape(*x.shape[:-1], self.out_features)
        return y if self.bias is None else y + self.bias


def _int8_linears(model: nn.Module) -> None:
    """Every linear layer but the output head becomes an Int8Linear. The head stays bf16: it shares
    its weight with the input embeddings in small LMs, and measured no faster in int8."""
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, nn.Linear) and child is not head:
                setattr(module, name, Int8Linear(child))


def _merged(model: nn.Module) -> nn.Module:
    from tailor.models.methods import merge_for_export

    return merge_for_export(model)


def _inputs_to_bf16(module, args, kwargs):
    def cast(value):
        return value.to(torch.bfloat16) if torch.is_tensor(value) and value.is_floating_point() else value

    return tuple(cast(a) for a in args), {k: cast(v) for k, v in kwargs.items()}
