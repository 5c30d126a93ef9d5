"""What one server accepts, so that it is safe to leave running: a client can ask only for what
the machine can answer, and is told at once (4xx) when it asks for more."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    # Requests answered together, and waiting beyond those (more: 429 with Retry-After). A CPU with
    # 2 cores decodes 8 conversations a step for about the cost of one (the step reads every weight
    # once), and 8 + 16 lets 24 clients at once be answered without a refusal.
    max_batch: int = 8
    max_queue: int = 16
    max_tokens: int = 1024  # new tokens one chat request may ask for
    default_max_tokens: int = 256  # when a request does not say
    max_context: int = 4096  # prompt + new tokens (and never more than the model's own context)
    max_body_bytes: int = 1024 * 1024
    max_inputs: int = 256  # inputs of one /v1/predict request
    max_stop: int = 4  # stop strings of one request, as OpenAI allows
