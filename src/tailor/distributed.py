"""Several processes (torchrun, accelerate launch): who writes, and where everyone waits.

Every process reads and checks the data and builds the model (so each fails the same way on bad
input); only the main process touches the run folder, converts an embedded model, writes files and
prints. The launchers set RANK / WORLD_SIZE; a plain `tailor train` is one process of one.
"""

from __future__ import annotations

import os
from contextlib import contextmanager


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def barrier() -> None:
    """Wait until every process gets here (a no-op for one process). The process group is the one
    the trainer uses (accelerate's PartialState: gloo on a CPU, nccl on GPUs)."""
    if world_size() > 1:
        _state().wait_for_everyone()


@contextmanager
def main_process_first():
    """The main process runs the block first (e.g. a one-time model conversion), the others after it."""
    if world_size() == 1:
        yield
        return
    if not is_main_process():
        barrier()
    try:
        yield
    finally:  # the others are waiting even if the block failed (they then fail on their own)
        if is_main_process():
            barrier()


def _state():
    import torch
    from accelerate import PartialState

    return PartialState(cpu=not torch.cuda.is_available())
