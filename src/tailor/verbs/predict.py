"""`tailor predict`: a trained run's answers for new inputs, as plain dicts."""

from __future__ import annotations

from pathlib import Path

from tailor.errors import ConfigError
from tailor.verbs.common import load_run


def predict(run_dir: str | Path, texts: list[str] | None = None, data: str | Path | None = None, *,
            text_pairs: list[str] | None = None, images: list[str | Path] | None = None,
            batch_size: int | None = None) -> list[dict]:
    """Answers of a trained run for new texts or images, or for every row of a file (or every image
    of a folder); labels are not needed."""
    from tailor.data.examples import Examples

    if not texts and not images and data is None:
        raise ConfigError("predict: give texts (--text \"...\", repeatable), images (--image PATH, repeatable) or "
                          "a file or folder of inputs (--data PATH)")
    given = [flag for flag, value in (("--text", texts), ("--image", images), ("--data", data)) if value]
    if len(given) > 1:
        raise ConfigError(f"predict: give one kind of input, not {' and '.join(given)}")
    cfg, task, model, processor = load_run(run_dir)
    reads_images = "image" in task.columns
    if data is None and bool(images) != reads_images:
        given, wanted = ("--image", "--text") if images else ("--text", "--image")
        raise ConfigError(f"this {task.name} run takes its inputs with {wanted}, not {given}")
    if data is not None:
        examples = task.read(Path(data), cfg, targets=False)
    elif images:
        from tailor.data.images import images_from_paths

        examples = images_from_paths(list(images))
    else:
        columns = {"text": list(texts or [])}
        _check_text_pairs(columns["text"], text_pairs, cfg.data.text_pair)
        if text_pairs:
            columns["text_pair"] = list(text_pairs)
        examples = Examples(Path("<command line>"), columns, [f"text {i + 1}" for i in range(len(columns["text"]))])
    answers = task.predict(model, processor, examples, cfg, batch_size or cfg.eval.batch_size)
    if "text" in examples.columns:  # the input first, as it reads best in a file of answers
        answers = [answer if "text" in answer else {"text": text, **answer}
                   for answer, text in zip(answers, examples.columns["text"])]
    return answers


def _check_text_pairs(texts: list[str], pairs: list[str] | None, trained_pair_column: str | None) -> None:
    """A run trained on pairs answers pairs only (and one trained on single texts, single texts):
    the other kind would be read as something it never saw, and answered without complaint."""
    if trained_pair_column and not pairs:
        raise ConfigError(f"this run was trained on text pairs (data.text_pair={trained_pair_column}); give a "
                          "second text for every --text with --text-pair")
    if pairs and not trained_pair_column:
        raise ConfigError("this run was trained on single texts (no data.text_pair); leave out --text-pair")
    if pairs and len(pairs) != len(texts):
        raise ConfigError(f"{len(texts)} --text but {len(pairs)} --text-pair; give one --text-pair per --text, "
                          "in the same order")
