"""Chat fine-tuning speed: tailor vs TRL's SFTTrainer with its defaults, same model, same LoRA
config, same conversations, one epoch each, one after the other on this machine.

    .venv/bin/pip install -c constraints.txt -e ".[bench]"     # TRL (tailor itself does not need it)
    .venv/bin/python benchmarks/chat_vs_trl.py                 # ~15 min on 2 cores
    .venv/bin/python benchmarks/chat_vs_trl.py --repeat 1 --smoke

Data: the assistant recipe's conversations (examples/assistant/data/train.jsonl, placeholders
filled), repeated --repeat times. Writes benchmarks/results/chat_vs_trl.{md,json}.
Tokens/s = the real tokens of the data as the model's chat template renders it (the same number
for both contenders) / training seconds. Target from the issue: >= 1.5x TRL at no more peak RSS.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORK = HERE / "work" / "chat"
sys.path.insert(0, str(HERE))
from run import machine  # noqa: E402

RESULT_PREFIX = "BENCH_RESULT "
TARGET = 1.5


def options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="copies of the recipe data (130 chats each)")
    parser.add_argument("--smoke", action="store_true", help="first 24 chats only; results under benchmarks/work/")
    parser.add_argument("--only", nargs="+", choices=["trl", "tailor"], default=["trl", "tailor"])
    parser.add_argument("--tailor-set", action="append", default=[], metavar="KEY=VALUE")
    return parser.parse_args()


def prepare(repeat: int, smoke: bool) -> tuple[Path, Path, int, int]:
    """The benchmark's data file (placeholders filled) and its token count under the chat template."""
    from transformers import AutoTokenizer

    from tailor.data.chat_tokens import encode_conversation
    from tailor.data.conversations import as_messages, read_conversations
    from tailor.data.readers import read_table
    from tailor.models.catalog import EMBEDDED

    WORK.mkdir(parents=True, exist_ok=True)
    table = read_table(ROOT / "examples" / "assistant" / "data" / "train.jsonl")
    examples = read_conversations(table, "messages", {"name": "Aria", "author": "Jun"})
    chats = [as_messages(turns) for turns in examples.columns["messages"]]
    chats = chats[:24] if smoke else chats * repeat
    train, evaluation = WORK / "train.jsonl", WORK / "eval.jsonl"
    train.write_text("".join(json.dumps({"messages": c}) + "\n" for c in chats))
    evaluation.write_text("".join(json.dumps({"messages": c}) + "\n" for c in chats[:16]))
    tokenizer = AutoTokenizer.from_pretrained(EMBEDDED["smollm2"].path())
    turns = examples.columns["messages"]
    tokens = sum(len(encode_conversation(tokenizer, t).input_ids) for t in (turns[:24] if smoke else turns))
    return train, evaluation, len(chats), tokens * (1 if smoke else repeat)


def run(name: str, train: Path, evaluation: Path, model: Path, extra: list[str]) -> dict:
    log = WORK / f"{name}.log"
    command = [sys.executable, str(HERE / "chat_contender.py"), name, "--train", str(train), "--eval",
               str(evaluation), "--model", str(model), "--out", str(WORK / f"run-{name}")]
    for item in extra:
        command += ["--set", item]
    print(f"[{name}] running; log: {log}", flush=True)
    with log.open("w") as handle:
        subprocess.run(command, stdout=handle, stderr=subprocess.STDOUT, check=True, cwd=ROOT)
    line = next(l for l in reversed(log.read_text().splitlines()) if l.startswith(RESULT_PREFIX))
    return json.loads(line[len(RESULT_PREFIX):])


def describe(host: dict) -> str:
    flags = ", ".join(f"{flag} {'yes' if present else 'no'}" for flag, present in host["flags"].items())
    versions = ", ".join(f"{k} {v}" for k, v in host["versions"].items())
    return (f"Machine: {host['cpu']}, {host['logical_cpus']} logical CPUs, {host['torch_threads']} torch threads, "
            f"{host['memory_gib']} GiB; {flags}.  \nPython {host['python']}, {versions}, trl {host.get('trl')}; "
            f"tailor {host['tailor_commit']}; {host['date_utc']} UTC.")


def table(results: dict, tokens: int, chats: int, machine: str) -> str:
    rows = []
    for name, r in results.items():
        r["tokens_per_s"] = round(tokens / r["train_s"], 1)
        settings = ", ".join(f"{k} {v}" for k, v in r["settings"].items())
        rows.append(f"| {name} | {r['train_s']:.1f} | {r['tokens_per_s']:.1f} | {r['steps']} | {r['peak_rss_mb']:.0f} "
                    f"| {r['setup_s']:.1f} | {settings} |")
    lines = [f"# Chat fine-tuning: tailor vs TRL SFTTrainer (defaults)\n", machine, "",
             f"Data: {chats} conversations, {tokens:,} tokens as SmolLM2's chat template renders them; one epoch; "
             "SmolLM2-135M-Instruct (embedded, fp32 weights); LoRA r 8, alpha 16, dropout 0.1, all linear layers.",
             "", "| contender | train s | tokens/s | steps | peak RSS (MB) | setup s | settings |", "|---|---|---|---|---|---|---|",
             *rows]
    if {"trl", "tailor"} <= set(results):
        speedup = results["tailor"]["tokens_per_s"] / results["trl"]["tokens_per_s"]
        memory = results["tailor"]["peak_rss_mb"] / results["trl"]["peak_rss_mb"]
        met = "met" if speedup >= TARGET and memory <= 1.0 else "NOT met"
        lines += ["", f"tailor: **{speedup:.2f}x** TRL's tokens/s at **{memory:.2f}x** its peak RSS "
                      f"(target >= {TARGET}x at <= 1.0x: {met})."]
    return "\n".join(lines) + "\n"


def main() -> None:
    args = options()
    from tailor.models.catalog import EMBEDDED

    model = EMBEDDED["smollm2"].path()  # converts the GGUF once, before any clock runs
    train, evaluation, chats, tokens = prepare(args.repeat, args.smoke)
    results = {name: run(name, train, evaluation, model, args.tailor_set if name == "tailor" else [])
               for name in args.only}
    import importlib.metadata

    host = machine()
    host["trl"] = importlib.metadata.version("trl")
    text = table(results, tokens, chats, describe(host))
    stem = (WORK / "results-smoke" if args.smoke else HERE / "results" / "chat_vs_trl")
    stem.parent.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".md").write_text(text)
    stem.with_suffix(".json").write_text(json.dumps({"machine": host, "tokens": tokens, "chats": chats,
                                                     "results": results}, indent=2))
    print(text)


if __name__ == "__main__":
    main()
