"""`tailor predict`: a trained run's answers for new inputs, as plain dicts."""

from __future__ import annotations

from pathlib import Path

from tailor.errors import ConfigError


def predict(run_dir: str | Path, texts: list[str] | None = None, data: str | Path | None = None, *,
            text_pairs: list[str] | None = None, images: list[str | Path] | None = None,
            batch_size: int | None = None, precision: str = "fp32", max_new_tokens: int | None = None,
            temperature: float | None = None, top_p: float | None = None, uncertainty: str | None = None,
            samples: int = 30, inputs: list[dict] | None = None, head: str | None = None) -> list[dict]:
    """Answers of a trained run for new texts or images, or for every row of a file (or every image
    of a folder); labels are not needed. A chat run answers prompts, `batch_size` decoded together,
    with the generation settings given (else the run's chat.* ones). `uncertainty="mc-dropout"`: each
    input answered `samples` times with dropout on; mean probabilities and their spread. `inputs`: for a
    task whose input is more than a text, objects with its input keys (a question and its context).
    `head`: which head of a multi-task run answers."""
    if uncertainty not in (None, "mc-dropout"):
        raise ConfigError(f"--uncertainty {uncertainty}: the method is mc-dropout")
    from tailor.serving.answerer import load_answerer
    from tailor.verbs.common import answering_folder

    run_dir = answering_folder(run_dir, head)
    if not inputs:
        check_inputs("predict", texts, images, data)
    answerer = load_answerer(run_dir, precision)
    answerer.with_generation(max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p)
    if inputs:
        examples = structured_inputs(answerer.task, answerer.cfg, inputs)
    else:
        examples = read_inputs(answerer.task, answerer.cfg, texts, text_pairs, images, data)
    return answerer.predict(examples, batch_size, mc_samples=samples if uncertainty else None)


def check_inputs(verb: str, texts: list[str] | None, images: list | None, data: str | Path | None) -> None:
    """One kind of input, and a --data path that exists: said before the model takes seconds to load."""
    if not texts and not images and data is None:
        raise ConfigError(f"{verb}: give texts (--text \"...\", repeatable), images (--image PATH, repeatable) or "
                          "a file or folder of inputs (--data PATH)")
    given = [flag for flag, value in (("--text", texts), ("--image", images), ("--data", data)) if value]
    if len(given) > 1:
        raise ConfigError(f"{verb}: give one kind of input, not {' and '.join(given)}")
    if data is not None and not Path(data).exists():
        from tailor.data.readers import suggest_sibling
        from tailor.errors import DataError

        raise DataError(data, "file not found", suggest_sibling(Path(data)))


def structured_inputs(task, cfg, inputs: list[dict]):
    from tailor.tasks.base import HasStructuredInputs

    if not isinstance(task, HasStructuredInputs):
        raise ConfigError(f"a {task.name} run takes texts (--text) or a file (--data), not {', '.join(inputs[0])}")
    return task.examples_from_inputs(inputs, cfg, "<command line>")


def read_inputs(task, cfg, texts: list[str] | None, text_pairs: list[str] | None, images: list | None,
                data: str | Path | None):
    """The inputs as the run's task reads them (no labels needed): texts or images as the run takes."""
    from tailor.serving.answerer import examples_from_texts

    reads_images = "image" in task.columns
    if data is None and bool(images) != reads_images:
        given, wanted = ("--image", "--text") if images else ("--text", "--image")
        raise ConfigError(f"this {task.name} run takes its inputs with {wanted}, not {given}")
    if data is not None:
        return task.read(Path(data), cfg, targets=False)
    from tailor.tasks.base import HasStructuredInputs

    if isinstance(task, HasStructuredInputs):
        raise ConfigError(f"a {task.name} run's inputs are more than a text: give a file with --data (columns "
                          f"{', '.join(task.input_keys)}), or ask `tailor serve` with objects of those keys")
    if images:
        from tailor.data.images import images_from_paths

        return images_from_paths(list(images))
    return examples_from_texts(list(texts or []), text_pairs, cfg.data.text_pair)
