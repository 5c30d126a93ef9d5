"""The HTTP server of `tailor serve` (FastAPI): /health, /v1/models, /v1/predict, and the
OpenAI-compatible /v1/chat/completions (openai_api.py).

Safe to leave running: with an API key set, every /v1 route needs `Authorization: Bearer KEY`;
bodies over the size limit get 413, malformed ones 400, a full queue 429 with Retry-After; 503
only while the model is still loading; an error inside the server is logged here and answered
with a one-line 500, never a traceback.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import secrets
import threading
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from tailor.serving.limits import Limits
from tailor.serving.scheduler import Job, QueueFull, Scheduler

log = logging.getLogger("tailor.serve")


class ApiError(Exception):
    """An answer with a 4xx (or 5xx) status and OpenAI's error body."""

    def __init__(self, status: int, message: str, kind: str = "invalid_request_error", *, param: str | None = None,
                 code: str | None = None, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.kind, self.param, self.code = status, message, kind, param, code
        self.headers = headers or {}


def error_body(message: str, kind: str = "invalid_request_error", param: str | None = None,
               code: str | None = None) -> dict:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


@dataclass
class ServerState:
    """What the routes share: the model once loaded (None before), and its worker."""

    load: Callable[[], Any]  # returns an Answerer
    limits: Limits
    answerer: Any = None
    scheduler: Scheduler | None = None
    failed: str | None = None
    started: float = field(default_factory=time.time)
    on_failure: Callable[[], None] = lambda: None

    def ready(self):
        if self.answerer is None:
            raise ApiError(503, "the model is still loading; try again in a few seconds", "service_unavailable",
                           headers={"Retry-After": "5"})
        return self

    def start_loading(self) -> None:
        threading.Thread(target=self._load, name="tailor-load", daemon=True).start()

    def _load(self) -> None:
        try:
            answerer = self.load()
            self.scheduler = _scheduler(answerer, self.limits)
            self.scheduler.start()
            self.answerer = answerer
            log.info("ready: %s (%s run), answering in %s", answerer.name, answerer.task.name, answerer.precision_note)
        except Exception as exc:  # the server cannot answer anything: say why, then stop
            self.failed = str(exc)
            log.error("the model could not be loaded: %s", exc, exc_info=log.isEnabledFor(logging.DEBUG))
            self.on_failure()

    def submit(self, job: Job) -> None:
        try:
            self.scheduler.submit(job)
        except QueueFull as full:
            raise ApiError(429, f"the server is busy: {self.limits.max_batch} requests are being answered and "
                                f"{self.limits.max_queue} are waiting; retry after {full.retry_after} s",
                           "rate_limit_error", code="queue_full", headers={"Retry-After": str(full.retry_after)})


def _scheduler(answerer, limits: Limits) -> Scheduler:
    if answerer.generates:
        from tailor.models.generation import stop_token_ids

        return Scheduler(model=answerer.model, tokenizer=answerer.processor,
                         stop_ids=stop_token_ids(answerer.model, answerer.processor),
                         max_rows=limits.max_batch, max_queue=limits.max_queue)
    return Scheduler(answer_inputs=lambda rows: answerer.predict(_examples(rows)),
                     max_rows=limits.max_batch, max_queue=limits.max_queue)


def create_app(state: ServerState, api_key: str | None) -> FastAPI:
    from tailor.serving.openai_api import chat_routes

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        state.start_loading()  # the server answers /health (503) while the weights load
        yield
        if state.scheduler is not None:
            state.scheduler.stop()

    app = FastAPI(title="tailor", summary="A fine-tuned model, served by tailor",
                  description="OpenAI-compatible chat completions for chat runs; /v1/predict for the others.",
                  version=_version(), lifespan=lifespan)
    authorized = Depends(_key_check(api_key))

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError):
        return JSONResponse(error_body(exc.message, exc.kind, exc.param, exc.code), exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        return JSONResponse(error_body(_validation_message(exc), param=_validation_param(exc)), 400)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        return JSONResponse(error_body(str(exc.detail), "not_found_error" if exc.status_code == 404 else
                                       "invalid_request_error"), exc.status_code)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        log.exception("request failed")
        return JSONResponse(error_body("the server failed to answer this request (see its log)", "server_error"), 500)

    @app.get("/health", summary="200 once the model is loaded, 503 while it loads")
    async def health():
        if state.answerer is None:
            return JSONResponse({"status": "loading" if state.failed is None else "failed"}, 503,
                                headers={"Retry-After": "5"})
        a, s = state.answerer, state.scheduler
        return {"status": "ok", "model": a.name, "task": a.task.name, "precision": a.precision,
                "precision_note": a.precision_note, "answering_now": s.busy_rows, "waiting": len(s.waiting),
                "max_batch": s.max_rows, "max_queue": s.max_queue}

    @app.get("/v1/models", dependencies=[authorized], summary="The one model this server answers with")
    async def models():
        a = state.ready().answerer
        return {"object": "list", "data": [{"id": a.name, "object": "model", "created": int(state.started),
                                            "owned_by": "tailor", "task": a.task.name, "precision": a.precision}]}

    @app.post("/v1/predict", dependencies=[authorized], summary="What `tailor predict` answers, for classic tasks")
    async def predict(body: PredictRequest, request: Request):
        a = state.ready().answerer
        if a.generates:
            raise ApiError(400, "this is a chat run: ask it with POST /v1/chat/completions")
        rows = _rows(body, a, state.limits)
        job = Job(loop=asyncio.get_running_loop(), inputs=rows)
        state.submit(job)
        answers = await _outcome(job, request)
        return {"model": a.name, "task": a.task.name, "answers": answers}

    chat_routes(app, state, authorized)
    return app


class PredictRequest(BaseModel):
    """`inputs`: texts, or objects {"text": ..., "text_pair": ...} for runs trained on pairs, objects with
    the task's input keys where its input is more than a text (a relation's text, head and tail), or
    {"image": "<base64 of the file's bytes>"} for image runs."""

    model_config = ConfigDict(extra="forbid")
    inputs: list[str | dict[str, Any]] = Field(min_length=1)
    model: str | None = None


async def _outcome(job: Job, request: Request):
    """The job's result; a client that went away cancels it (its row leaves the batch)."""
    try:
        while True:
            try:
                kind, value = await asyncio.wait_for(job.events.get(), timeout=1.0)
            except asyncio.TimeoutError:
                if await request.is_disconnected():
                    job.cancel()
                    return None
                continue
            if kind == "done":
                return value
            if kind == "error":
                raise ApiError(500, "the server failed to answer this request (see its log)", "server_error")
    finally:
        job.cancel()  # a no-op once done; frees the slot when the handler itself was cancelled


def _rows(body: PredictRequest, answerer, limits: Limits) -> list[dict]:
    """One dict per input, in the columns the run's task reads, checked before it is queued."""
    from tailor.serving.answerer import examples_from_texts
    from tailor.tasks.base import HasStructuredInputs

    if len(body.inputs) > limits.max_inputs:
        raise ApiError(413, f"{len(body.inputs)} inputs in one request; send at most {limits.max_inputs}",
                       param="inputs")
    if isinstance(answerer.task, HasStructuredInputs):
        return _structured_rows(body.inputs, answerer)
    items = [{"text": item} if isinstance(item, str) else item for item in body.inputs]
    if "image" in answerer.task.columns:
        return [{"image": _image(item, i)} for i, item in enumerate(items)]
    unknown = sorted({key for item in items for key in item} - {"text", "text_pair"})
    if unknown or any("text" not in item for item in items):
        raise ApiError(400, f"inputs of a {answerer.task.name} run are texts, or objects with 'text' (and "
                            "'text_pair' for a run trained on pairs)" + (f"; unknown keys: {', '.join(unknown)}"
                                                                         if unknown else ""), param="inputs")
    pairs = [item["text_pair"] for item in items if "text_pair" in item] or None
    try:
        examples_from_texts([item["text"] for item in items], pairs, answerer.cfg.data.text_pair,
                            names=("text", "text_pair"))
    except Exception as exc:
        raise ApiError(400, str(exc), param="inputs") from None
    if any(not item["text"].strip() for item in items):
        raise ApiError(400, "an input text is empty", param="inputs")
    return items


def _structured_rows(items: list, answerer) -> list[dict]:
    """A task whose input is more than a text: objects with its input keys, validated as file rows are."""
    from tailor.errors import TailorError

    task, keys = answerer.task, answerer.task.input_keys
    unknown = sorted({key for item in items if isinstance(item, dict) for key in item} - set(keys))
    if unknown or not all(isinstance(item, dict) and item for item in items):
        raise ApiError(400, f"inputs of a {task.name} run are objects with the keys {', '.join(keys)}"
                            + (f"; unknown keys: {', '.join(unknown)}" if unknown else ""), param="inputs")
    try:
        examples = task.examples_from_inputs(items, answerer.cfg, "<request>")
    except TailorError as exc:
        raise ApiError(400, str(exc), param="inputs") from None
    return [{role: values[i] for role, values in examples.columns.items()} for i in range(len(examples))]


def _image(item: dict, index: int):
    from tailor.data.images import ImageRef

    if set(item) != {"image"}:
        raise ApiError(400, "inputs of an image run are objects {\"image\": \"<base64 of the image file>\"}",
                       param="inputs")
    try:
        image = ImageRef(Path("<request>"), where=f"input {index + 1}", data=base64.b64decode(item["image"],
                                                                                          validate=True))
        with image.open() as img:
            img.verify()
    except Exception:
        raise ApiError(400, f"input {index + 1}: 'image' is not the base64 of an image file", param="inputs") from None
    return image


def _examples(rows: list[dict]):
    """The rows of every waiting request, as one set of examples for the task."""
    from tailor.data.examples import Examples

    columns = {key: [row[key] for row in rows] for key in rows[0]}
    return Examples(Path("<request>"), columns, [f"input {i + 1}" for i in range(len(rows))])


def _key_check(api_key: str | None):
    async def check(request: Request) -> None:
        if api_key is None:
            return
        given = request.headers.get("authorization", "")
        scheme, _, token = given.partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(token.strip().encode(), api_key.encode()):
            raise ApiError(401, "a valid API key is needed: send the header 'Authorization: Bearer KEY'",
                           code="invalid_api_key", headers={"WWW-Authenticate": "Bearer"})

    return check


def _validation_message(exc: RequestValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first.get("loc", ())[1:]) or "body"
    if first.get("type") == "json_invalid":
        return "the request body is not valid JSON"
    return f"{where}: {first.get('msg', 'invalid')}"


def _validation_param(exc: RequestValidationError) -> str | None:
    loc = exc.errors()[0].get("loc", ())
    return ".".join(str(part) for part in loc[1:]) or None


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tailor")
    except PackageNotFoundError:
        return "dev"


class BodyLimit:
    """ASGI middleware: a body larger than `max_bytes` gets 413 before any route reads it (chunked
    bodies too: they are read up to the limit and handed on whole)."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return await self._too_large(send)
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client left before sending its body
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_bytes:
                return await self._too_large(send)
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # later reads see a disconnect, as the route's checks expect

        await self.app(scope, replay, send)

    async def _too_large(self, send) -> None:
        response = JSONResponse(error_body(f"the request body is larger than {self.max_bytes // 1024} KiB "
                                           "(tailor serve --max-body-kb)", code="body_too_large"), 413)
        await response({"type": "http"}, None, send)
