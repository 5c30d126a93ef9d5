"""`tailor export`: a run's model as a standalone folder."""

from __future__ import annotations

import shutil
from pathlib import Path

from tailor.console import warn
from tailor.errors import RunError
from tailor.runs import RunDir, save_folder_atomically


def export(run_dir: str | Path, out: str | Path, *, merge: bool = False, overwrite: bool = False) -> Path:
    """Copy a run's model out as a standalone folder. `merge` folds a LoRA adapter into the base
    weights: the result loads with plain transformers (no peft), chat template and generation
    config included."""
    run = RunDir(Path(run_dir))
    model_dir = run.require_model()
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise RunError(f"{out} exists and is not empty; choose another --out or pass --overwrite")
    out.parent.mkdir(parents=True, exist_ok=True)
    adapter = (model_dir / "adapter_config.json").exists()
    if not (merge and adapter):
        save_folder_atomically(out, lambda folder: shutil.copytree(model_dir, folder))
        if adapter:
            warn("this run holds a LoRA adapter: the copy needs its base model (and peft) to load; "
                 "--merge writes a standalone model")
        return out
    save_folder_atomically(out, lambda folder: _write_merged(run.dir, folder))
    return out


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
