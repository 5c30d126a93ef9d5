"""`tailor predict`: a trained run's answers for new inputs, as plain dicts."""

from __future__ import annotations

from pathlib import Path

from tailor.errors import ConfigError


def predict(run_dir: str | Path, texts: list[str] | None = None, data: str | Path | None = None, *,
            text_pairs: list[str] | None = None, images: list[str | Path] | None = None,
            batch_size: int | None = None, precision: str = "fp32", max_new_tokens: int | None = None,
            temperature: float | None = None, top_p: float | None = None, uncertainty: str | None = None,
            samples: int = 30) -> list[dict]:
    """Answers of a trained run for new texts or images, or for every row of a file (or every image
    of a folder); labels are not needed. A chat run answers prompts, `batch_size` decoded together,
    with the generation settings given (else the run's chat.* ones). `uncertainty="mc-dropout"`: each
    input answered `samples` times with dropout on; mean probabilities and their spread."""
    if uncertainty not in (None, "mc-dropout"):
        raise ConfigError(f"--uncertainty {uncertainty}: the method is mc-dropout")
    from tailor.serving.answerer import examples_from_texts, load_answerer

    if not texts and not images and data is None:
        raise ConfigError("predict: give texts (--text \"...\", repeatable), images (--image PATH, repeatable) or "
                          "a file or folder of inputs (--data PATH)")
    given = [flag for flag, value in (("--text", texts), ("--image", images), ("--data", data)) if value]
    if len(given) > 1:
        raise ConfigError(f"predict: give one kind of input, not {' and '.join(given)}")
    if data is not None and not Path(data).exists():  # said before the model takes seconds to load
        from tailor.data.readers import suggest_sibling
        from tailor.errors import DataError

        raise DataError(data, "file not found", suggest_sibling(Path(data)))
    answerer = load_answerer(run_dir, precision)
    answerer.with_generation(max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p)
    cfg, task = answerer.cfg, answerer.task
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
        examples = examples_from_texts(list(texts or []), text_pairs, cfg.data.text_pair)
    return answerer.predict(examples, batch_size, mc_samples=samples if uncertainty else None)
