"""POST /v1/chat/completions as OpenAI's API has it, so that the `openai` client (and whatever
speaks that API) talks to a tuned chat run: streaming over server-sent events, `stop`,
`max_tokens`, `temperature`, `top_p`, `seed`, and usage counts."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Literal

from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from tailor.models.decoding import Reply, Sampling
from tailor.serving.app import ApiError, ServerState, _outcome, error_body
from tailor.serving.scheduler import Job

# tailor chat's defaults: a small model rambles at OpenAI's temperature 1
DEFAULT_TEMPERATURE, DEFAULT_TOP_P = 0.7, 0.9


class TextPart(BaseModel):
    type: Literal["text"]
    text: str


class Message(BaseModel):
    model_config = ConfigDict(extra="ignore")  # name, and the like: not used
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[TextPart]

    def as_dict(self) -> dict:
        text = self.content if isinstance(self.content, str) else "".join(p.text for p in self.content)
        return {"role": "system" if self.role == "developer" else self.role, "content": text}


class ChatRequest(BaseModel):
    # Fields of OpenAI's API that change nothing here (user, presence_penalty ...) are ignored; those
    # whose meaning tailor cannot honour are refused below rather than silently dropped.
    model_config = ConfigDict(extra="ignore")
    model: str | None = None
    messages: list[Message] = Field(min_length=1)
    stream: bool = False
    stream_options: dict | None = None
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    seed: int | None = None
    stop: str | list[str] | None = None
    n: int = Field(1, ge=1)
    tools: list | None = None
    logprobs: bool | None = None
    response_format: dict | None = None


def chat_routes(app: FastAPI, state: ServerState, authorized) -> None:
    @app.post("/v1/chat/completions", dependencies=[authorized],
              summary="OpenAI-compatible chat completions (stream=true: server-sent events)")
    async def chat_completions(body: ChatRequest, request: Request):
        answerer = state.ready().answerer
        if not answerer.generates:
            raise ApiError(400, f"this is a {answerer.task.name} run, not a chat run: ask it with POST /v1/predict")
        reply, prompt_tokens = _reply(body, answerer, state)
        job = Job(loop=asyncio.get_running_loop(), reply=reply)
        state.submit(job)
        meta = {"id": f"chatcmpl-{uuid.uuid4().hex[:24]}", "created": int(time.time()), "model": answerer.name}
        if body.stream:
            usage = bool((body.stream_options or {}).get("include_usage"))
            return StreamingResponse(_events(job, meta, prompt_tokens, usage), media_type="text/event-stream",
                                     headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        done = await _outcome(job, request)
        if done is None:
            return None  # the client went away
        return {**meta, "object": "chat.completion",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": done.text},
                             "finish_reason": done.finish_reason, "logprobs": None}],
                "usage": _usage(prompt_tokens, done)}


def _reply(body: ChatRequest, answerer, state: ServerState) -> tuple[Reply, int]:
    """The request as a row to decode, its limits checked first."""
    from tailor.data.chat_tokens import render_prompt

    limits = state.limits
    if body.n != 1:
        raise ApiError(400, "n: one answer per request (n=1)", param="n")
    for name in ("tools", "logprobs", "response_format"):
        if getattr(body, name):
            raise ApiError(400, f"{name}: not supported by tailor serve", param=name)
    stops = [body.stop] if isinstance(body.stop, str) else list(body.stop or [])
    if len(stops) > limits.max_stop or any(not s for s in stops):
        raise ApiError(400, f"stop: at most {limits.max_stop} non-empty strings", param="stop")
    wanted = body.max_completion_tokens or body.max_tokens or limits.default_max_tokens
    if wanted > limits.max_tokens:
        raise ApiError(400, f"max_tokens: at most {limits.max_tokens} new tokens per request (tailor serve "
                            "--max-tokens)", param="max_tokens")
    try:
        prompt = render_prompt(answerer.processor, [m.as_dict() for m in body.messages])
    except Exception as exc:  # the model's chat template refused the conversation (roles out of order ...)
        raise ApiError(400, f"messages: the model's chat template cannot render them ({exc})", param="messages") from None
    context = min(limits.max_context, getattr(answerer.model.config, "max_position_embeddings", limits.max_context))
    if len(prompt) + wanted > context:
        raise ApiError(400, f"messages: the conversation is {len(prompt)} tokens and max_tokens is {wanted}; this "
                            f"server reads at most {context} tokens in all: shorten the conversation or max_tokens",
                       param="messages", code="context_length_exceeded")
    sampling = Sampling(max_new_tokens=wanted,
                        temperature=DEFAULT_TEMPERATURE if body.temperature is None else body.temperature,
                        top_p=DEFAULT_TOP_P if body.top_p is None else body.top_p, seed=body.seed, stop=tuple(stops))
    return Reply(prompt, sampling), len(prompt)


async def _events(job: Job, meta: dict, prompt_tokens: int, include_usage: bool):
    """Server-sent events as OpenAI streams them: a role delta, content deltas, a finish, [DONE].
    A client that disconnects ends this generator, and with it the row (finally: cancel)."""
    try:
        yield _sse(_chunk(meta, {"role": "assistant", "content": ""}))
        while True:
            kind, value = await job.events.get()
            if kind == "text":
                yield _sse(_chunk(meta, {"content": value}))
            elif kind == "done":
                yield _sse(_chunk(meta, {}, value.finish_reason))
                if include_usage:
                    yield _sse({**meta, "object": "chat.completion.chunk", "choices": [],
                                "usage": _usage(prompt_tokens, value)})
                yield "data: [DONE]\n\n"
                return
            else:  # the worker failed: logged there; the client gets one line
                yield _sse(error_body("the server failed to answer this request (see its log)", "server_error"))
                return
    finally:
        job.cancel()


def _chunk(meta: dict, delta: dict, finish_reason: str | None = None) -> dict:
    return {**meta, "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}]}


def _sse(payload: dict) -> str:
    return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"


def _usage(prompt_tokens: int, reply: Reply) -> dict:
    completion = len(reply.ids)
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion, "total_tokens": prompt_tokens + completion}
