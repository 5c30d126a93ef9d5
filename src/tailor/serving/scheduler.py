"""One thread owns the model and answers the server's requests a batch at a time.

A CPU has no spare cores for two batches side by side, so requests wait in a bounded queue and
one worker answers them:
- chat: up to `max_rows` conversations are decoded together; a waiting one joins the running batch
  as soon as a row frees up (continuous batching: a decode step costs about the same for one row as
  for eight, since it is bound by reading the weights), and a row whose client went away leaves at
  the next step;
- predict: the inputs of every waiting request are answered in one call, then split back.
A request that finds `max_queue` others waiting beyond the free rows is refused at once (the server answers 429 with
Retry-After), so that a burst never piles up more work than the machine can finish.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

from tailor.models.decoding import DecodeBatch, Reply, can_join

log = logging.getLogger("tailor.serve")


class QueueFull(Exception):
    def __init__(self, retry_after: int):
        super().__init__(f"the server is busy ({retry_after} s)")
        self.retry_after = retry_after


@dataclass
class Job:
    """One request. Its events (text pieces for chat, then a final item) are put on `events`, an
    asyncio queue of the server's loop, from the worker thread."""

    loop: asyncio.AbstractEventLoop
    reply: Reply | None = None  # chat
    inputs: Any = None  # predict: what `answer_inputs` takes (a list)
    events: asyncio.Queue = field(default_factory=asyncio.Queue)
    cancelled: bool = False
    started: float = 0.0  # when the worker took it

    def emit(self, kind: str, value=None) -> None:
        self.loop.call_soon_threadsafe(self.events.put_nowait, (kind, value))

    def cancel(self) -> None:
        self.cancelled = True


class Scheduler:
    """`answer_inputs(list) -> list` answers predict inputs; `model`/`tokenizer`/`stop_ids` decode chat."""

    def __init__(self, *, model=None, tokenizer=None, stop_ids: list[int] | None = None,
                 answer_inputs: Callable[[list], list] | None = None, max_rows: int = 8, max_queue: int = 16):
        self.model, self.tokenizer, self.stop_ids = model, tokenizer, stop_ids or []
        self.answer_inputs = answer_inputs
        self.max_rows, self.max_queue = max_rows, max_queue
        self.waiting: deque[Job] = deque()
        self.running = 0
        self._wake = threading.Condition()
        self._stopped = False
        self._decoding: list[Job] = []  # the chat requests in the running batch
        self._predicting = 0  # the predict requests being answered
        self._seconds_per_job = 2.0  # a first guess for Retry-After, then a running average
        self._thread = threading.Thread(target=self._work, name="tailor-worker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with self._wake:
            self._stopped = True
            self._wake.notify()
        self._thread.join(timeout=10)

    def submit(self, job: Job) -> None:
        with self._wake:
            free_rows = self.max_rows - self.busy_rows
            if len(self.waiting) >= self.max_queue + max(free_rows, 0):
                raise QueueFull(self.retry_after())
            self.waiting.append(job)
            self._wake.notify()

    @property
    def busy_rows(self) -> int:
        """Requests being answered now (not waiting)."""
        return len(self._decoding) + self._predicting

    def retry_after(self) -> int:
        """Seconds until a queued request is likely to have started: the queue, a batch at a time."""
        batches = math.ceil((len(self.waiting) + 1) / self.max_rows)
        return max(1, math.ceil(batches * self._seconds_per_job))

    def _work(self) -> None:
        batch = DecodeBatch(self.model, self.tokenizer, self.stop_ids) if self.model is not None else None
        joins = batch is not None and can_join(self.model)
        while True:
            with self._wake:
                while not self._stopped and not self.waiting and not (batch is not None and len(batch)):
                    self._wake.wait()
                if self._stopped:
                    return
                running = len(batch) if batch is not None else 0
                # new rows join a running batch only where the model's cache lets them (can_join)
                room = self.max_rows - running if (joins or running == 0) else 0
                taken = [self.waiting.popleft() for _ in range(min(room, len(self.waiting)))]
            taken = [job for job in taken if not job.cancelled]
            for job in taken:
                job.started = time.monotonic()
            try:
                self._answer_predictions([j for j in taken if j.reply is None])
                if batch is not None:
                    self._decode(batch, [j for j in taken if j.reply is not None])
            except Exception as exc:  # never reaches a client as a traceback: logged here, a 500 there
                log.exception("answering failed")
                for job in {id(j): j for j in taken + self._decoding}.values():
                    job.emit("error", exc)
                self._decoding = []
                if batch is not None:
                    batch = DecodeBatch(self.model, self.tokenizer, self.stop_ids)

    def _answer_predictions(self, jobs: list[Job]) -> None:
        if not jobs:
            return
        inputs = [item for job in jobs for item in job.inputs]
        self._predicting = len(jobs)
        try:
            answers = self.answer_inputs(inputs)
        finally:
            self._predicting = 0
        start = 0
        for job in jobs:
            job.emit("done", answers[start:start + len(job.inputs)])
            start += len(job.inputs)
            self._took(job)

    def _decode(self, batch: DecodeBatch, joining: list[Job]) -> None:
        """Take the joining requests in, then one decode step; finished rows report and leave."""
        for job in joining:
            job.reply.on_text = lambda piece, job=job: job.emit("text", piece)
            job.reply.cancelled = lambda job=job: job.cancelled
        self._decoding += joining
        batch.add([job.reply for job in joining])
        if len(batch):
            batch.step()
        for job in [j for j in self._decoding if j.reply.done]:
            job.emit("done", job.reply)
            self._took(job)
        self._decoding = [j for j in self._decoding if not j.reply.done]

    def _took(self, job: Job) -> None:
        seconds = time.monotonic() - job.started
        self._seconds_per_job = 0.8 * self._seconds_per_job + 0.2 * seconds
