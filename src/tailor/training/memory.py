"""Memory the process no longer uses, handed back to the operating system between phases of a run.

glibc's malloc keeps freed blocks for reuse instead of returning them, and a training loop's
activations of many sizes leave its heap fragmented: after one epoch of SmolLM2 LoRA about 1 GB
was free but still held (mallinfo2), so the evaluation that follows training, with the saved
model loaded back, pushed the process's peak memory up by that much (benchmarks/chat_vs_trl.py).
Trimming once at a phase boundary costs milliseconds; trimming every step would cost page faults
on every reuse, so it is not done inside the loop.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc


def release_free_memory() -> bool:
    """Collect garbage, then give the heap's free pages back (glibc only: elsewhere a no-op).
    Returns whether memory was handed back."""
    gc.collect()  # objects in reference cycles (a trainer and its callbacks) free their tensors only now
    trim = getattr(_libc(), "malloc_trim", None)
    return bool(trim(0)) if trim is not None else False


def _libc():
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name) if name else None
    except OSError:
        return None
