"""Messages for the person at the terminal go to stderr, so stdout stays clean for results.
With several processes, only the main one speaks."""

from __future__ import annotations

import sys

from tailor.distributed import is_main_process


def say(message: str) -> None:
    if is_main_process():
        print(message, file=sys.stderr, flush=True)


def warn(message: str) -> None:
    if is_main_process():
        print(f"warning: {message}", file=sys.stderr, flush=True)
