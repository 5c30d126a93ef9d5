"""`tailor serve` against 127.0.0.1 only: the official openai client (streaming and not), /v1/predict
for a classifier and a NER run, the API key, the limits (body, tokens, queue) with their 4xx, 503
while loading, no traceback to a client, a client that leaves mid-stream freeing its slot, and 24
clients at once without a 5xx. Every server is a real uvicorn one on a free port, in a thread."""

from __future__ import annotations

import concurrent.futures
import json
import socket
import threading
import time
from contextlib import contextmanager

import httpx
import pytest

import tailor
import tailor.api
from task_fixtures import train_tiny_run
from tailor.errors import ConfigError
from tailor.serving.limits import Limits

KEY = "k" * 24


@pytest.fixture(scope="module")
def chat_run(tmp_path_factory, request):
    return train_tiny_run("chat", tmp_path_factory.mktemp("chat"), request, max_steps=2)


@pytest.fixture(scope="module")
def text_run(tmp_path_factory, request):
    return train_tiny_run("text-classification", tmp_path_factory.mktemp("text"), request, max_steps=2)


@pytest.fixture(scope="module")
def ner_run(tmp_path_factory, request):
    return train_tiny_run("token-classification", tmp_path_factory.mktemp("ner"), request, max_steps=2)


@pytest.fixture(scope="module")
def regression_run(tmp_path_factory, request):
    return train_tiny_run("text-regression", tmp_path_factory.mktemp("regression"), request, max_steps=2)


@contextmanager
def running(target, api_key=None, limits=Limits(), load=None, wait=True):
    """A server on a free port of 127.0.0.1; yields its base URL and state; stopped at the end."""
    from tailor.verbs.serve import make_server

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server, state = make_server(target, port=port, api_key=api_key, limits=limits, log_level="warning")
    if load is not None:
        state.load = load
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while not server.started or (wait and state.answerer is None):
        assert time.monotonic() < deadline and state.failed is None, f"server did not start: {state.failed}"
        time.sleep(0.05)
    try:
        yield url, state
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def _openai(url, key=KEY, **kwargs):
    from openai import OpenAI

    return OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, **kwargs)


def test_the_openai_client_gets_the_greedy_answer_streamed_and_not(chat_run):
    expected = tailor.predict(chat_run, texts=["Who are you?"], max_new_tokens=6)[0]["answer"]
    with running(chat_run, api_key=KEY) as (url, _):
        client = _openai(url)
        assert [m.id for m in client.models.list().data] == [chat_run.name]
        question = [{"role": "user", "content": "Who are you?"}]
        whole = client.chat.completions.create(model=chat_run.name, messages=question, max_tokens=6, temperature=0)
        stream = client.chat.completions.create(model=chat_run.name, messages=question, max_tokens=6, temperature=0,
                                                stream=True, stream_options={"include_usage": True})
        chunks = list(stream)
    choice = whole.choices[0]
    assert choice.message.content.strip() == expected and choice.message.role == "assistant"
    assert choice.finish_reason in ("stop", "length")
    assert whole.usage.completion_tokens <= 6 and whole.usage.prompt_tokens > 5
    assert whole.usage.total_tokens == whole.usage.prompt_tokens + whole.usage.completion_tokens
    pieces = [c.choices[0].delta.content or "" for c in chunks if c.choices]
    assert "".join(pieces) == choice.message.content
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == choice.finish_reason
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens and chunks[-1].choices == []


def test_seed_repeats_a_sampled_answer_and_stop_cuts_it(chat_run):
    with running(chat_run) as (url, _):
        client = _openai(url)
        ask = dict(model="m", messages=[{"role": "user", "content": "Tell me about yourself."}], max_tokens=12,
                   temperature=1.0, top_p=0.9)
        first, again = (client.chat.completions.create(seed=7, **ask).choices[0].message.content for _ in range(2))
        greedy = client.chat.completions.create(**{**ask, "temperature": 0}).choices[0]
        cut_at = greedy.message.content[3:6]
        stopped = client.chat.completions.create(**{**ask, "temperature": 0}, stop=[cut_at]).choices[0]
    assert first == again
    assert stopped.finish_reason == "stop"
    assert stopped.message.content == greedy.message.content[:greedy.message.content.index(cut_at)]


def test_an_api_key_is_required_when_set(chat_run):
    from openai import AuthenticationError

    with running(chat_run, api_key=KEY) as (url, _):
        with pytest.raises(AuthenticationError) as refused:
            _openai(url, key="wrong" * 5).models.list()
        assert refused.value.status_code == 401
        answer = httpx.get(f"{url}/v1/models")
        assert answer.status_code == 401 and answer.headers["www-authenticate"] == "Bearer"
        assert answer.json()["error"]["message"] == ("a valid API key is needed: send the header "
                                                     "'Authorization: Bearer KEY'")
        assert httpx.get(f"{url}/health").json()["status"] == "ok"  # for load balancers: no key, no secrets
        assert httpx.get(f"{url}/openapi.json").json()["info"]["title"] == "tailor"


def test_it_refuses_to_listen_beyond_localhost_without_a_key(chat_run, cli):
    from tailor.verbs.serve import make_server

    with pytest.raises(ConfigError) as refused:
        make_server(chat_run, host="0.0.0.0")
    assert str(refused.value) == ("--host 0.0.0.0 accepts connections from other machines: give an API key (set "
                                  "TAILOR_API_KEY, or --api-key) so that only your clients are answered, or serve "
                                  "on 127.0.0.1")
    code, _, err = cli("serve", chat_run, "--host", "0.0.0.0")
    assert code == 2 and err.strip() == f"error: {refused.value}"
    code, _, err = cli("serve", chat_run, "--host", "0.0.0.0", "--api-key", "short")
    assert code == 2 and "shorter than 16 characters" in err


def test_bad_requests_get_a_clear_4xx_and_never_a_traceback(chat_run):
    limits = Limits(max_tokens=32, max_body_bytes=4096, max_context=128)
    with running(chat_run, limits=limits) as (url, _):
        post = lambda body, **kw: httpx.post(f"{url}/v1/chat/completions", timeout=30, **kw)  # noqa: E731
        user = [{"role": "user", "content": "hi"}]
        cases = {
            "not json": (post(None, content=b"{not json", headers={"content-type": "application/json"}), 400,
                         "the request body is not valid JSON"),
            "no messages": (post(None, json={"messages": []}), 400, "messages: List should have at least 1 item "
                                                                    "after validation, not 0"),
            "n": (post(None, json={"messages": user, "n": 2}), 400, "n: one answer per request (n=1)"),
            "max_tokens": (post(None, json={"messages": user, "max_tokens": 33}), 400,
                           "max_tokens: at most 32 new tokens per request (tailor serve --max-tokens)"),
            "oversize": (post(None, content=b"x" * 5000, headers={"content-type": "application/json"}), 413,
                         "the request body is larger than 4 KiB (tailor serve --max-body-kb)"),
            "predict on chat": (httpx.post(f"{url}/v1/predict", json={"inputs": ["a"]}), 400,
                                "this is a chat run: ask it with POST /v1/predict"
                                .replace("/v1/predict", "/v1/chat/completions")),
            "unknown route": (httpx.get(f"{url}/v2/nothing"), 404, "Not Found"),
        }
        long = post(None, json={"messages": [{"role": "user", "content": "word " * 200}], "max_tokens": 8})
    for name, (answer, status, message) in cases.items():
        assert (name, answer.status_code, answer.json()["error"]["message"]) == (name, status, message)
    assert long.status_code == 400 and long.json()["error"]["code"] == "context_length_exceeded"
    assert "this server reads at most 128 tokens in all" in long.json()["error"]["message"]


def test_a_failure_inside_answers_500_in_one_line(chat_run, monkeypatch):
    from tailor.models.decoding import DecodeBatch

    def broken(self, replies):
        raise RuntimeError("secret internals at /home/someone")

    with running(chat_run) as (url, _):
        monkeypatch.setattr(DecodeBatch, "add", broken)
        answer = httpx.post(f"{url}/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"}]},
                            timeout=30)
    assert answer.status_code == 500
    assert answer.json() == {"error": {"message": "the server failed to answer this request (see its log)",
                                       "type": "server_error", "param": None, "code": None}}


def test_503_only_while_the_model_loads(chat_run):
    from tailor.serving.answerer import load_answerer

    release = threading.Event()

    def slow_load():
        release.wait(30)
        return load_answerer(chat_run)

    with running(chat_run, load=slow_load, wait=False) as (url, state):
        loading = httpx.get(f"{url}/health"), httpx.get(f"{url}/v1/models")
        release.set()
        while state.answerer is None:
            time.sleep(0.05)
        ready = httpx.get(f"{url}/health"), httpx.get(f"{url}/v1/models")
    assert [a.status_code for a in loading] == [503, 503] and loading[0].json() == {"status": "loading"}
    assert loading[1].headers["retry-after"] == "5"
    assert [a.status_code for a in ready] == [200, 200]


def test_a_full_queue_answers_429_with_retry_after_and_a_client_that_leaves_frees_its_slot(chat_run):
    limits = Limits(max_batch=1, max_queue=0, max_tokens=400)
    long_answer = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 400, "stream": True,
                   "temperature": 1.0}
    with running(chat_run, limits=limits) as (url, state), httpx.Client(timeout=30) as client:
        with client.stream("POST", f"{url}/v1/chat/completions", json=long_answer) as stream:
            lines = stream.iter_lines()  # kept: a dropped iterator closes the connection
            first = next(lines)
            busy = httpx.post(f"{url}/v1/chat/completions", json=long_answer)
        # the stream was closed after its first event: the row must leave the batch at its next step
        deadline = time.monotonic() + 20
        while state.scheduler._decoding and time.monotonic() < deadline:
            time.sleep(0.05)
        after = httpx.post(f"{url}/v1/chat/completions", json={**long_answer, "stream": False, "max_tokens": 2})
    assert first.startswith("data: ") and json.loads(first[6:])["choices"][0]["delta"]["role"] == "assistant"
    assert busy.status_code == 429 and int(busy.headers["retry-after"]) >= 1
    assert busy.json()["error"]["type"] == "rate_limit_error"
    assert state.scheduler._decoding == [] and after.status_code == 200


def test_24_clients_at_once_get_answers_and_no_5xx(chat_run):
    def ask(i):
        return httpx.post(f"{url}/v1/chat/completions", timeout=120,
                          json={"messages": [{"role": "user", "content": f"question {i}"}], "max_tokens": 8,
                                "temperature": 0, "stream": i % 2 == 0})

    with running(chat_run) as (url, _):
        with concurrent.futures.ThreadPoolExecutor(24) as pool:
            answers = list(pool.map(ask, range(24)))
    assert [a.status_code for a in answers] == [200] * 24
    assert all(a.text.rstrip().endswith("data: [DONE]") for a in answers[::2])


@pytest.mark.parametrize("run_name", ["text_run", "ner_run", "regression_run"])
def test_predict_answers_what_tailor_predict_answers(run_name, request):
    run = request.getfixturevalue(run_name)
    texts = ["the movie was great", "Anna visited Paris ."]
    expected = tailor.predict(run, texts=texts)
    with running(run, api_key=KEY) as (url, _):
        answer = httpx.post(f"{url}/v1/predict", json={"inputs": texts}, headers={"Authorization": f"Bearer {KEY}"})
        chat = httpx.post(f"{url}/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"}]},
                          headers={"Authorization": f"Bearer {KEY}"})
        empty = httpx.post(f"{url}/v1/predict", json={"inputs": [" "]}, headers={"Authorization": f"Bearer {KEY}"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["task"] == tailor.api.load_run(run)[1].name and len(body["answers"]) == 2
    assert body["answers"] == expected
    assert chat.status_code == 400 and "ask it with POST /v1/predict" in chat.json()["error"]["message"]
    assert empty.status_code == 400 and empty.json()["error"]["message"] == "an input text is empty"


def test_a_gguf_export_is_pointed_to_llama_cpp(tmp_path):
    from tailor.verbs.serve import make_server

    (tmp_path / "model.q8_0.gguf").write_bytes(b"GGUF")
    with pytest.raises(ConfigError, match="a GGUF export is served by llama.cpp"):
        make_server(tmp_path)


def test_an_hf_export_answers_as_its_run_and_is_served(text_run, tmp_path):
    export = tailor.export(text_run, tmp_path / "hf")
    assert (export / "tailor.yaml").is_file() and (export / "model.safetensors").is_file()
    texts = ["the food was lovely", "that book was dreadful"]
    assert tailor.predict(export, texts=texts) == tailor.predict(text_run, texts=texts)
    with running(export) as (url, _):
        answer = httpx.post(f"{url}/v1/predict", json={"inputs": texts})
    assert answer.json()["answers"] == tailor.predict(text_run, texts=texts)


def test_an_image_run_answers_base64_images_as_tailor_predict_answers_their_files(tmp_path_factory, request):
    import base64

    folder = tmp_path_factory.mktemp("images")
    run = train_tiny_run("image-classification", folder, request, max_steps=2)
    files = sorted((folder / "eval").rglob("*.png"))[:2]
    expected = [{k: v for k, v in a.items() if k != "image"} for a in tailor.predict(run, images=files)]
    inputs = [{"image": base64.b64encode(f.read_bytes()).decode()} for f in files]
    with running(run) as (url, _):
        answer = httpx.post(f"{url}/v1/predict", json={"inputs": inputs}, timeout=60)
        broken = httpx.post(f"{url}/v1/predict", json={"inputs": [{"image": "bm90IGFuIGltYWdl"}]}, timeout=60)
    assert [{k: v for k, v in a.items() if k != "image"} for a in answer.json()["answers"]] == expected
    assert broken.status_code == 400
    assert broken.json()["error"]["message"] == "input 1: 'image' is not the base64 of an image file"
