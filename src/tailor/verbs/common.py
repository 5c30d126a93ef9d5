"""What several verbs share: a config resolved for its task, a model source and its processor,
and a finished run loaded back."""

from __future__ import annotations

from pathlib import Path

from tailor.config import Config, load_config
from tailor.runs import RunDir


def resolved(config: str | Path | Config, overrides: list[str] = ()):
    """(config with the task's defaults filled in, on a copy; task)."""
    from tailor.tasks import get_task, resolve_config

    from tailor.config import config_class

    cfg = config if isinstance(config, Config) else load_config(config, list(overrides))
    if not isinstance(cfg, config_class(cfg.task)):  # a plain Config: checked and given its task's section
        cfg = load_config(None, base=cfg.model_dump(exclude_unset=True))
    task = get_task(cfg.task)
    if cfg.model.name == "auto":
        cfg = _auto_model(cfg, task)
    return resolve_config(cfg, task), task


def _auto_model(cfg: Config, task) -> Config:
    """`model: auto`: the embedded model that reads the training text best, said with the measurements
    (`tailor train` then tries each where the default cannot read it: verbs/auto.py)."""
    from tailor.console import say
    from tailor.data.readability import auto_model

    name, readings = auto_model(task, cfg)
    measured = "; ".join(r.line() for r in readings)
    say(f"model: auto -> {name} ({measured})" if name == task.default_model else
        f"model: auto: {task.default_model}, the default, cannot read this text; {name} reads it best ({measured})")
    cfg = cfg.model_copy(deep=True)
    cfg.model.name, cfg.model.auto = name, True
    return cfg


def model_source(cfg: Config):
    """Where the model's weights are; an embedded GGUF model is converted by the main process only."""
    from tailor.distributed import main_process_first
    from tailor.models.resolve import resolve_model

    with main_process_first():
        return resolve_model(cfg.model.name)


def load_processor(task, source, cfg: Config):
    return task.processor(source.location, cfg, **source.load_kwargs(cfg.model.revision, cfg.model.trust_remote_code))


def answering_folder(run_dir: str | Path, head: str | None = None) -> Path:
    """The folder a verb answers from: `run_dir` itself, or with `head` that head of a multi-task run,
    as a run folder of the head's own task (RUN/head-NAME/, made on first use)."""
    from tailor.errors import ConfigError
    from tailor.tasks import get_task
    from tailor.tasks.base import HasHeads

    folder = Path(run_dir)
    if head is None:
        _check_one_head(folder)
        return folder
    run = RunDir(folder)
    if not run.config.is_file():
        raise ConfigError(f"--head {head}: {folder} is not a run folder (heads are of multi-task runs)")
    cfg = load_config(run.config)
    task = get_task(cfg.task)
    if not isinstance(task, HasHeads):
        raise ConfigError(f"--head {head}: {folder} is a {cfg.task} run, which answers with its one model; --head "
                          "is for multi-task runs")
    run.require_model()
    return task.head_run(cfg, run, head)


def load_run(run_dir: str | Path):
    """(config, task, model, processor) of a finished run, loaded from model/ with plain transformers;
    of an hf export folder (the same, with the run's config beside it as tailor.yaml); or of an ONNX
    export folder, its graph run by onnxruntime."""
    import transformers

    from tailor.exports.onnx_folder import CONFIG_FILE, is_onnx_export, load_onnx_export
    from tailor.tasks import get_task

    folder = Path(run_dir)
    if is_onnx_export(folder):
        return load_onnx_export(folder)
    if _is_hf_export(folder):
        model_dir, config_file = folder, folder / CONFIG_FILE
    else:
        run = RunDir(folder)
        model_dir, config_file = run.require_model(), run.config
    transformers.utils.logging.disable_progress_bar()  # a per-tensor "Loading weights" bar is noise here
    _check_one_head(folder)
    cfg = load_config(config_file)
    task = get_task(cfg.task)
    trust = {"trust_remote_code": cfg.model.trust_remote_code}
    return cfg, task, on_device(task.load_model(model_dir, **trust)), task.processor(str(model_dir), cfg, **trust)


def model_folder(folder: Path) -> Path:
    """The folder with the weights: model/ of a run, or the export folder itself."""
    run = RunDir(folder)
    return run.model if run.config.is_file() else folder


def is_answering_folder(folder: Path) -> bool:
    """A folder load_run loads: a run folder, or an hf or ONNX export of one."""
    from tailor.exports.onnx_folder import is_onnx_export

    run = RunDir(folder)
    return (run.config.is_file() and run.model.is_dir()) or _is_hf_export(folder) or is_onnx_export(folder)


def _is_hf_export(folder: Path) -> bool:
    from tailor.exports.onnx_folder import CONFIG_FILE

    weights = (folder / "config.json").is_file() or (folder / "adapter_config.json").is_file()
    return weights and (folder / CONFIG_FILE).is_file() and not (folder / "model.onnx").exists()


def on_device(model):
    """Evaluation and prediction run where training did: on the GPU when there is one."""
    import torch

    return model.to("cuda") if torch.cuda.is_available() else model


def _check_one_head(folder: Path) -> None:
    """A multi-task run answers through one head at a time: without --head, say which heads it has."""
    import json

    from tailor.errors import ConfigError
    from tailor.models.shared_encoder import MANIFEST

    manifest = RunDir(folder).model / MANIFEST
    if manifest.is_file():
        heads = ", ".join(head["name"] for head in json.loads(manifest.read_text(encoding="utf-8"))["heads"])
        raise ConfigError(f"{folder} is a multi-task run: its heads answer one at a time; add --head NAME "
                          f"(heads: {heads})")
