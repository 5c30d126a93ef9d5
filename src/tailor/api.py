"""The public Python API: train, evaluate, predict, check, export, compress. Each verb lives in its own
module under tailor/verbs/; the CLI is a thin shell over these."""

from __future__ import annotations

import os

# Set before transformers is imported anywhere: no telemetry, no hub calls for things we ship.
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from tailor.verbs.check import check  # noqa: E402
from tailor.verbs.compress import compress  # noqa: E402
from tailor.verbs.common import load_run  # noqa: E402
from tailor.verbs.evaluate import evaluate  # noqa: E402
from tailor.verbs.explain import explain  # noqa: E402
from tailor.verbs.export import export  # noqa: E402
from tailor.verbs.folds import cross_validate  # noqa: E402
from tailor.verbs.predict import predict  # noqa: E402
from tailor.verbs.search import search  # noqa: E402
from tailor.verbs.train import RunResult, train  # noqa: E402

__all__ = ["train", "cross_validate", "evaluate", "predict", "explain", "check", "search", "export", "compress", "load_run",
           "RunResult"]
