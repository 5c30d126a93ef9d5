"""`tailor export`: a run's model as a standalone folder, in the format another runtime reads."""

from __future__ import annotations

import shutil
from pathlib import Path

from tailor.console import warn
from tailor.errors import ConfigError
from tailor.runs import RunDir, require_free_output, save_folder_atomically


FORMATS = ("hf", "onnx", "gguf")


def export(run_dir: str | Path, out: str | Path, *, format: str = "hf", quantize: str | None = None,
           merge: bool = False, data: str | Path | None = None, min_agreement: float | None = None,
           max_loss_increase: float | None = None, overwrite: bool = False, head: str | None = None) -> Path:
    """Write a run's model as a standalone folder.

    - format "hf": the folder transformers loads; `merge` folds a LoRA adapter into the base weights,
      so the result loads without peft, chat template and generation config included.
    - format "onnx" (text, token and image classification): the graph for onnxruntime, `quantize`
      fp32 (default), f16 or int8, checked against the run's model on its held-out rows (or `data`)
      before it is written; `tailor predict OUT` and `tailor eval OUT` run on it.
    - format "gguf" (chat): one file for llama.cpp, Ollama and LM Studio, `quantize` f16, q8_0
      (default) or q4_0, with an Ollama Modelfile, checked by answering the run's held-out prompts.
    `min_agreement`: the least share of held-out answers that must match the run's (quantized exports);
    `max_loss_increase` (gguf): how much higher than the run's the held-out loss may be (default 0.05).
    `head`: a multi-task run's head, exported as a model of its own task (it loads without tailor).
    """
    from tailor.verbs.common import answering_folder

    run_dir = answering_folder(run_dir, head)
    if format not in FORMATS:
        raise ConfigError(f"--format {format}: choose one of {', '.join(FORMATS)}")
    if max_loss_increase is not None and format != "gguf":
        raise ConfigError("--max-loss-increase is for --format gguf")
    if data is not None and format != "onnx":
        raise ConfigError("--data is for --format onnx (a GGUF export is checked on the run's held-out prompts)")
    _refuse_classical(Path(run_dir))
    if format == "onnx":
        return _export_onnx(Path(run_dir), Path(out), quantize or "fp32", data, min_agreement, overwrite)
    if format == "gguf":
        from tailor.exports.gguf_folder import LOSS_TOLERANCE, write_gguf_export

        RunDir(Path(run_dir)).require_model()
        write_gguf_export(Path(run_dir), Path(out), quantize or "q8_0", min_agreement=min_agreement,
                          max_loss_increase=LOSS_TOLERANCE if max_loss_increase is None else max_loss_increase,
                          overwrite=overwrite)
        return Path(out)
    if quantize is not None:
        raise ConfigError("--quantize is for --format onnx or --format gguf")
    run = RunDir(Path(run_dir))
    model_dir = run.require_model()
    out = Path(out)
    require_free_output(out, overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    adapter = (model_dir / "adapter_config.json").exists()
    if not (merge and adapter):
        save_folder_atomically(out, lambda folder: _copy_model(run, folder))
        if adapter:
            warn("this run holds a LoRA adapter: the copy needs its base model (and peft) to load; "
                 "--merge writes a standalone model")
        return out
    save_folder_atomically(out, lambda folder: _write_merged(run.dir, folder))
    return out


def _refuse_classical(run_dir: Path) -> None:
    from tailor.models.classical import is_classical
    from tailor.verbs.common import model_folder

    if is_classical(model_folder(run_dir)):
        raise ConfigError(f"{run_dir}: this run answers with TF-IDF + logistic regression (model: auto chose it over "
                          "the fine-tuned model), which is no transformers model: its model/ folder (a skops file) "
                          "is what to copy; the fine-tuned model is exported from RUN/fine-tuned")


def _export_onnx(run_dir: Path, out: Path, variant: str, data, min_agreement, overwrite: bool) -> Path:
    from tailor.exports.onnx import VARIANTS
    from tailor.exports.onnx_folder import write_onnx_export

    if variant not in VARIANTS:
        raise ConfigError(f"--quantize {variant}: an ONNX export is one of {', '.join(VARIANTS)}")
    RunDir(run_dir).require_model()
    write_onnx_export(run_dir, out, variant, data=Path(data) if data else None, min_agreement=min_agreement,
                      overwrite=overwrite)
    return out


def _copy_model(run: RunDir, folder: Path) -> None:
    shutil.copytree(run.model, folder)
    _add_run_config(run, folder)


def _add_run_config(run: RunDir, folder: Path) -> None:
    """The run's config beside the weights, as tailor.yaml: predict, eval and serve read it to know
    the task and how inputs were read."""
    from tailor.exports.onnx_folder import CONFIG_FILE

    shutil.copy(run.config, folder / CONFIG_FILE)


def _write_merged(run_dir: Path, folder: Path) -> None:
    """The run's model, loaded as its task loads it, with the adapter folded in; the processor (with
    its chat template) and generation config beside it."""
    from tailor.models.methods import merge_for_export
    from tailor.verbs.common import load_run

    _, _, model, processor = load_run(run_dir)
    model = merge_for_export(model)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    if getattr(model, "generation_config", None) is not None:
        model.generation_config.save_pretrained(folder)
    card = RunDir(run_dir).model / "README.md"
    if card.exists():
        shutil.copy(card, folder / "README.md")
    _add_run_config(RunDir(run_dir), folder)
