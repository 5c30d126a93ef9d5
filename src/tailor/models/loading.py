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
