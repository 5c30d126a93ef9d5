"""ONNX exports of the classic tasks' models, and the runtime side that reads them back.

The graph is traced by torch's exporter (torch.export, `dynamo=True`; its translation needs the
onnxscript package) with the batch and, for token inputs, the length left dynamic. Variants:
- fp32: the traced graph as it is;
- f16: weights and arithmetic in float16, inputs and outputs kept fp32 (onnxruntime's converter);
- int8: onnxruntime's dynamic quantization (int8 weights of the matrix products, activations
  quantized on the fly), after its shape-inference pre-processing.

`OnnxModel` stands in for a transformers model wherever tailor evaluates or predicts: it takes the
collated batch's tensors and answers `.logits`, and its `.config` is the run's model config (the
label names), so every task's own `evaluate` and `predict` run on the export unchanged.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from pathlib import Path
from types import SimpleNamespace

import torch

MODEL_FILE = "model.onnx"
VARIANTS = ("fp32", "f16", "int8")
OPSET = 18


# What a collated batch may carry for training, never a model input of the graph.
TARGET_KEYS = ("labels", "start_positions", "end_positions")


def model_inputs(batch: dict) -> dict:
    return {name: value for name, value in batch.items() if name not in TARGET_KEYS}


class SpanLogits(torch.nn.Module):
    """A question-answering model with one output, `logits` (rows x tokens x 2: start, end), as the
    graph and OnnxModel carry every task's answer."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.config = model.config

    def forward(self, **inputs):
        outputs = self.model(**inputs)
        return SimpleNamespace(logits=torch.stack([outputs.start_logits, outputs.end_logits], dim=-1))


def exportable(model, task):
    """The model as the export traces and checks it: one `logits` output (a span task's start and end
    logits stacked into it)."""
    return SpanLogits(model) if task.targets == "spans" else model


def write_graph(model, example: dict, path: Path, variant: str = "fp32") -> None:
    """Trace `model` on one collated batch (targets left out) and write the ONNX file `path`."""
    inputs = model_inputs(example)
    if isinstance(model, SpanLogits):
        model = _TensorOutput(model)
    traced = path.with_name(path.stem + ".traced.onnx") if variant != "fp32" else path
    with _exporter_quiet():
        program = torch.onnx.export(model.eval(), (), kwargs=inputs, dynamic_shapes=_dynamic_axes(inputs),
                                    input_names=list(inputs), output_names=["logits"], opset_version=OPSET,
                                    dynamo=True, verbose=False)
    program.save(str(traced))
    if variant == "f16":
        _to_float16(traced, path)
    elif variant == "int8":
        _to_int8(traced, path)
    if traced != path:
        traced.unlink()


class _TensorOutput(torch.nn.Module):
    """torch.export traces tensors, not a namespace, and names of arguments, not **kwargs: the wrapped
    text model's `logits` alone, from the inputs a tokenizer gives."""

    def __init__(self, model):
        super().__init__()
        self.inner = model

    def forward(self, input_ids, attention_mask=None, token_type_ids=None):
        given = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}
        return self.inner(**{name: value for name, value in given.items() if value is not None}).logits


def _dynamic_axes(inputs: dict) -> dict:
    """Every input's first axis is the batch; a token input's second is its length (images keep
    their fixed size). One Dim object per axis name ties the inputs' axes together."""
    batch, length = torch.export.Dim("batch"), torch.export.Dim("length")
    axes = {}
    for name, value in inputs.items():
        tokens = value.dim() == 2 and not value.is_floating_point()
        axes[name] = {0: batch, 1: length} if tokens else {0: batch}
    return axes


def example_batch(batch: dict) -> dict:
    """A batch fit to trace: torch.export fixes an axis that is 1 in the example, so a single row
    (or a length of 1) is repeated to 2."""
    traced = {}
    for name, value in batch.items():
        if value.shape[0] == 1:
            value = value.repeat(2, *([1] * (value.dim() - 1)))
        if value.dim() == 2 and not value.is_floating_point() and value.shape[1] == 1:
            value = value.repeat(1, 2)
        traced[name] = value
    return traced


def _to_float16(source: Path, target: Path) -> None:
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = convert_float_to_float16(onnx.load(str(source)), keep_io_types=True)
    onnx.save(model, str(target))


def _to_int8(source: Path, target: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    prepared = source.with_name(source.stem + ".prepared.onnx")
    with _exporter_quiet():
        # the symbolic pass cannot follow the dynamic length through attention; ONNX shape inference can
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        quantize_dynamic(str(prepared), str(target), weight_type=QuantType.QInt8)
    prepared.unlink()


@contextlib.contextmanager
def _exporter_quiet():
    """The exporter narrates every stage and warns about operators of packages we do not use
    (torchvision's); tailor prints its own one-line summary instead."""
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "torch.export", "torch._dynamo", "root")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


class OnnxModel:
    """An exported graph behind the part of a transformers model that tailor's evaluation and
    prediction use (see the module docstring)."""

    device = torch.device("cpu")

    def __init__(self, folder: Path, threads: int | None = None):
        import onnxruntime
        from transformers import AutoConfig

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        self.session = onnxruntime.InferenceSession(str(Path(folder) / MODEL_FILE), options,
                                                    providers=["CPUExecutionProvider"])
        self.input_names = [item.name for item in self.session.get_inputs()]
        self.config = AutoConfig.from_pretrained(folder)

    def eval(self) -> "OnnxModel":
        return self

    def __call__(self, **inputs) -> SimpleNamespace:
        missing = [name for name in self.input_names if name not in inputs]
        if missing:
            raise ValueError(f"the ONNX graph takes {missing}, which the batch does not have")
        feed = {name: inputs[name].detach().cpu().numpy() for name in self.input_names}
        (logits,) = self.session.run(["logits"], feed)
        return SimpleNamespace(logits=torch.from_numpy(logits))
