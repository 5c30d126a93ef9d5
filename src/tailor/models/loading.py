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
