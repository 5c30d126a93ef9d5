"""Helpers around from_pretrained shared by every task."""

from __future__ import annotations

from contextlib import contextmanager


@contextmanager
def quiet_load_report():
    """transformers prints a table of newly initialised weights on every load; for a fresh task head
    that is expected, so only errors are shown while the model loads."""
    from transformers.utils import logging

    previous = logging.get_verbosity()
    logging.set_verbosity_error()
    try:
        yield
    finally:
        logging.set_verbosity(previous)


def with_new_head(auto_class, location: str, labels: list[str], **load_kwargs):
    """A pretrained model with a fresh classification head for these labels (`auto_class`, e.g.
    AutoModelForSequenceClassification): a model fine-tuned before on other labels gets a new head
    of the right size."""
    with quiet_load_report():  # "classifier MISSING" is expected: the head is new
        return auto_class.from_pretrained(location, num_labels=len(labels), id2label=dict(enumerate(labels)),
                                          label2id={label: i for i, label in enumerate(labels)},
                                          ignore_mismatched_sizes=True, **load_kwargs)


# The input word-embedding matrix's name in the usual layouts (BERT, Llama, GPT-2, ...).
_INPUT_EMBEDDINGS = ("word_embeddings.weight", "embed_tokens.weight", "wte.weight")


def input_embeddings(location: str):
    """The model's input word-embedding matrix, read alone from its safetensors files (no model built)."""
    from pathlib import Path

    from safetensors import safe_open

    from tailor.errors import ConfigError

    for file in sorted(Path(location).glob("*.safetensors")):
        with safe_open(str(file), "pt") as weights:
            for name in weights.keys():
                if name.endswith(_INPUT_EMBEDDINGS):
                    return weights.get_tensor(name)
    raise ConfigError(f"{location}: no input word embeddings found in its safetensors files (looked for "
                      f"{', '.join(_INPUT_EMBEDDINGS)}); use text_classification.augment.synonyms=wordnet")
