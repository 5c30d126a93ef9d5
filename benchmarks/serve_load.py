"""Load and fault test of `tailor serve`, against 127.0.0.1 only, bounded in count and time.

    python benchmarks/serve_load.py RUN_DIR [--clients 24] [--rounds 2] [--max-tokens 48]

Starts `tailor serve RUN_DIR` (with an API key) as a subprocess, then, while 24 clients ask at once
(half streaming, greedy, `--rounds` requests each, one after the other), sends the faults a server
left running meets: oversize and malformed bodies, a wrong and a missing key, too many tokens; then
4 clients that disconnect mid-stream, and a burst past the queue (429 with Retry-After expected). Records status counts, latency p50/p95
(seconds to the whole answer) and time to first token of the streams. Writes
benchmarks/results/serve_load_<precision>.{md,json}.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path)
    parser.add_argument("--clients", type=int, default=24)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--precision", default="fp32")
    return parser.parse_args()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def ask(url: str, key: str, i: int, max_tokens: int) -> dict:
    body = {"messages": [{"role": "user", "content": f"Give me tip number {i} for learning to cook."}],
            "max_tokens": max_tokens, "temperature": 0, "stream": i % 2 == 0,
            **({"stream_options": {"include_usage": True}} if i % 2 == 0 else {})}
    headers = {"Authorization": f"Bearer {key}"}
    start = time.perf_counter()
    first, tokens = None, 0
    with httpx.Client(timeout=300) as client:
        if body["stream"]:
            with client.stream("POST", f"{url}/v1/chat/completions", json=body, headers=headers) as answer:
                for line in answer.iter_lines():
                    if first is None and '"content": "' in line and '"content": ""' not in line:
                        first = time.perf_counter() - start
                    if '"usage"' in line:
                        tokens = json.loads(line[6:])["usage"]["completion_tokens"]
                status = answer.status_code
        else:
            answer = client.post(f"{url}/v1/chat/completions", json=body, headers=headers)
            status = answer.status_code
            tokens = answer.json().get("usage", {}).get("completion_tokens", 0) if status == 200 else 0
    return {"status": status, "seconds": time.perf_counter() - start, "first_token": first, "stream": body["stream"],
            "tokens": tokens}


def leave_mid_stream(url: str, key: str) -> int:
    body = {"messages": [{"role": "user", "content": "Tell me a long story."}], "max_tokens": 400, "stream": True}
    with httpx.Client(timeout=60) as client, client.stream("POST", f"{url}/v1/chat/completions", json=body,
                                                            headers={"Authorization": f"Bearer {key}"}) as answer:
        lines = answer.iter_lines()
        next(lines)
        return answer.status_code  # closed here, after the first event


def faults(url: str, key: str) -> dict:
    good = {"Authorization": f"Bearer {key}"}
    user = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}
    with httpx.Client(timeout=60) as client:
        return {
            "oversize body (2 MiB)": client.post(f"{url}/v1/chat/completions", content=b"x" * (2 << 20),
                                                 headers={**good, "content-type": "application/json"}).status_code,
            "malformed JSON": client.post(f"{url}/v1/chat/completions", content=b"{oops",
                                          headers={**good, "content-type": "application/json"}).status_code,
            "wrong key": client.post(f"{url}/v1/chat/completions", json=user,
                                     headers={"Authorization": "Bearer " + "x" * 32}).status_code,
            "missing key": client.post(f"{url}/v1/chat/completions", json=user).status_code,
            "max_tokens over the limit": client.post(f"{url}/v1/chat/completions", json={**user, "max_tokens": 5000},
                                                     headers=good).status_code,
        }


def burst(url: str, key: str, count: int) -> Counter:
    """More requests at once than the batch and the queue hold: the rest must get 429 at once."""
    body = {"messages": [{"role": "user", "content": "Count to twenty."}], "max_tokens": 32}

    def one(_):
        answer = httpx.post(f"{url}/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"},
                            timeout=300)
        return answer.status_code, answer.headers.get("retry-after")

    with concurrent.futures.ThreadPoolExecutor(count) as pool:
        results = list(pool.map(one, range(count)))
    refused = [r for r in results if r[0] == 429]
    assert all(retry is not None for _, retry in refused), "a 429 without Retry-After"
    return Counter(status for status, _ in results)


def main() -> None:
    args = options()
    from run import machine

    key, port = secrets.token_urlsafe(24), free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([str(Path(sys.executable).parent / "tailor"), "serve", str(args.run), "--port", str(port),
                               "--precision", args.precision], env={**os.environ, "TAILOR_API_KEY": key,
                                                                    "HF_HUB_OFFLINE": "1"},
                              stdout=subprocess.DEVNULL, stderr=open(HERE / "work" / "serve_load.log", "w"))
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(f"{url}/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline and server.poll() is None, "the server did not start"
            time.sleep(0.5)
        started = time.perf_counter()

        def client(number: int) -> list[dict]:  # one client asks its rounds one after the other
            return [ask(url, key, number * args.rounds + r, args.max_tokens) for r in range(args.rounds)]

        with concurrent.futures.ThreadPoolExecutor(args.clients) as pool:
            asked = [pool.submit(client, i) for i in range(args.clients)]
            fault_codes = faults(url, key)
            results = [answer for f in asked for answer in f.result()]
        load_seconds = time.perf_counter() - started
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            left_codes = list(pool.map(lambda _: leave_mid_stream(url, key), range(4)))
        time.sleep(1)  # their rows leave at the batch's next step
        after_leaving = httpx.get(f"{url}/health").json()
        bursts = burst(url, key, 40)
        write(machine(), args, results, load_seconds, left_codes, fault_codes, bursts, after_leaving)
    finally:
        server.terminate()
        server.wait(timeout=30)


def write(host, args, results, load_seconds, left_codes, fault_codes, bursts, health) -> None:
    statuses = Counter(r["status"] for r in results)
    seconds = sorted(r["seconds"] for r in results)
    firsts = sorted(r["first_token"] for r in results if r["first_token"] is not None)
    p = lambda values, q: values[min(len(values) - 1, int(q * len(values)))]  # noqa: E731
    lines = ["# tailor serve under load (127.0.0.1)\n",
             f"Machine: {host['cpu']}, {host['logical_cpus']} CPUs; tailor {host['tailor_commit']}; {host['date_utc']} "
             f"UTC. Run {args.run.name}, --precision {args.precision}, default limits (8 answered together, 16 "
             "waiting).\n",
             f"- {len(results)} chat requests from {args.clients} clients at once ({args.rounds} each, one after the "
             f"other, half streaming, greedy, max_tokens {args.max_tokens}), the faults below sent meanwhile: "
             f"statuses {dict(statuses)}; {sum(s >= 500 for s in statuses.elements())} 5xx; {load_seconds:.1f} s in "
             f"all, {sum(r['tokens'] for r in results)} tokens answered.",
             f"- latency to the whole answer: p50 {p(seconds, 0.5):.2f} s, p95 {p(seconds, 0.95):.2f} s; time to the "
             f"first token of the streams: p50 {p(firsts, 0.5):.2f} s, p95 {p(firsts, 0.95):.2f} s.",
             f"- 4 clients that left mid-stream after the first event: statuses {left_codes}; a second later the "
             f"server had {health['waiting']} waiting and {health['answering_now']} rows decoding (theirs freed).",
             "- faults: " + "; ".join(f"{name} -> {code}" for name, code in fault_codes.items()) + ".",
             f"- a burst of 40 requests at once: {dict(bursts)} (every 429 with Retry-After)."]
    out = HERE / "results" / f"serve_load_{args.precision}"
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    out.with_suffix(".json").write_text(json.dumps({"machine": host, "results": results, "faults": fault_codes,
                                                    "left": left_codes, "burst": dict(bursts)}, indent=2))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
