"""`tailor explain`: which words or pixels drove a trained run's answers, as one HTML page."""

from __future__ import annotations

import html
from pathlib import Path

from tailor.errors import ConfigError
from tailor.verbs.predict import check_inputs, read_inputs

DEFAULT_PAGE = "explanations.html"  # in the current folder: a run folder refuses files it did not write


def explain(run_dir: str | Path, *, texts: list[str] | None = None, text_pairs: list[str] | None = None,
            images: list[str | Path] | None = None, data: str | Path | None = None, out: str | Path | None = None,
            steps: int = 50, limit: int = 20, head: str | None = None) -> tuple[Path, list[dict]]:
    """Explain a classification run's answers for texts, images, or the first `limit` inputs of a file or
    folder (integrated gradients, `steps` steps); writes one self-contained HTML page to `out` (default
    explanations.html here) and returns its path and the explanations."""
    if steps < 1 or limit < 1:
        raise ConfigError(f"explain: --steps and --limit are at least 1 (got {steps} and {limit})")
    check_inputs("explain", texts, images, data)
    from tailor.verbs.common import answering_folder, load_run

    cfg, task, model, processor = load_run(answering_folder(run_dir, head))
    _check_explainable(task, model)
    examples = read_inputs(task, cfg, texts, text_pairs, images, data)
    left_out = max(len(examples) - limit, 0)
    if left_out:
        from tailor.console import warn

        warn(f"explaining the first {limit} of {len(examples)} inputs; {left_out} left out (raise --limit)")
        examples = examples.subset(range(limit))
    explained = task.explain(model, processor, examples, cfg, steps=steps)
    page = Path(out) if out is not None else Path(DEFAULT_PAGE)
    _write_page(page, Path(run_dir), task.name, explained, left_out)
    return page, explained


def _check_explainable(task, model) -> None:
    import torch

    from tailor.tasks import TASKS, get_task
    from tailor.tasks.base import HasExplanations

    if not isinstance(task, HasExplanations):
        supported = ", ".join(name for name in TASKS if isinstance(get_task(name), HasExplanations))
        raise ConfigError(f"explain: {task.name} runs cannot be explained yet; explain supports {supported} runs")
    from tailor.models.classical import ClassicalTextModel

    if isinstance(model, ClassicalTextModel):
        raise ConfigError("explain needs a PyTorch model (its gradients); this run answers with TF-IDF + logistic "
                          "regression (model: auto chose it): explain RUN/fine-tuned, the fine-tuned model, instead")
    if not isinstance(model, torch.nn.Module):
        raise ConfigError("explain needs the run's PyTorch model (its gradients); an ONNX export has none: point "
                          "explain at the run folder or an hf export")


def _write_page(page: Path, run_dir: Path, task: str, explained: list[dict], left_out: int) -> None:
    from tailor.evaluation.report import explanations_html
    from tailor.evaluation.report import page as html_page
    from tailor.io import atomic_write_text

    name = run_dir.resolve().name
    header = f"<h1>Why {html.escape(name)} answered so</h1><p>task <b>{html.escape(task)}</b></p>"
    note = f"<p class='warning'>{left_out} more inputs were left out (--limit).</p>" if left_out else ""
    atomic_write_text(page, html_page(f"tailor explain: {name}", [header, note, explanations_html(explained)]))
