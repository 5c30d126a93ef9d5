"""Chat fine-tuning speed: tailor vs TRL's SFTTrainer with its defaults, same model, same LoRA
config, same conversations, one epoch each, one after the other on this machine.

    .venv/bin/pip install -c constraints.txt -e ".[bench]"     # TRL (tailor itself does not need it)
    .venv/bin/python benchmarks/chat_vs_trl.py                 # 3 interleaved rounds, ~25 min on 2 cores
    .venv/bin/python benchmarks/chat_vs_trl.py --smoke --rounds 1

Data: the assistant recipe's conversations (examples/assistant/data/train.jsonl, placeholders
filled), repeated --repeat times. Writes benchmarks/results/chat_vs_trl.{md,json}.
Tokens/s = the real tokens of the data as the model's chat template renders it (the same number
for both contenders) / training seconds. Targets from issue 17: whole process >= 3x TRL's speed at
<= 0.6x its peak RSS; training at >= 15% of the bf16 peak.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORK = HERE / "work" / "chat"
sys.path.insert(0, str(HERE))
from run import gemm_peak, machine  # noqa: E402

RESULT_PREFIX = "BENCH_RESULT "
TARGET = 3.0  # whole-process speed-up over TRL the issue asks for
MEMORY_TARGET = 0.6  # at no more than this share of TRL's peak RSS
PEAK_SHARE_GOAL = 0.15  # tailor's training FLOP/s over the bf16 peak


def options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="copies of the recipe data (130 chats each)")
    parser.add_argument("--smoke", action="store_true", help="first 24 chats only; results under benchmarks/work/")
    parser.add_argument("--only", nargs="+", choices=["trl", "tailor"], default=["trl", "tailor"])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the table has medians")
    parser.add_argument("--tailor-set", action="append", default=[], metavar="KEY=VALUE")
    return parser.parse_args()


def prepare(repeat: int, smoke: bool) -> tuple[Path, Path, int, int, list[int]]:
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
    lengths = [len(encode_conversation(tokenizer, t).input_ids) for t in (turns[:24] if smoke else turns)]
    lengths = lengths * (1 if smoke else repeat)
    return train, evaluation, len(chats), sum(lengths), lengths


def run(name: str, train: Path, evaluation: Path, model: Path, extra: list[str], round_index: int) -> dict:
    log = WORK / f"{name}-round{round_index}.log"
    command = [sys.executable, str(HERE / "chat_contender.py"), name, "--train", str(train), "--eval",
               str(evaluation), "--model", str(model), "--out", str(WORK / f"run-{name}")]
    for item in extra:
        command += ["--set", item]
    print(f"[{name} round {round_index}] running; log: {log}", flush=True)
    started = time.perf_counter()
    with log.open("w") as handle:
        subprocess.run(command, stdout=handle, stderr=subprocess.STDOUT, check=True, cwd=ROOT)
    line = next(l for l in reversed(log.read_text().splitlines()) if l.startswith(RESULT_PREFIX))
    return {**json.loads(line[len(RESULT_PREFIX):]), "whole_s": round(time.perf_counter() - started, 1)}


def useful_flops(model: Path, lengths: list[int]) -> float:
    """6 x non-embedding parameters x real tokens + attention (12 x layers x hidden x T^2 per
    conversation, each on its own), the convention of the classification benchmark (README.md)."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(model)
    d, layers = config.hidden_size, config.num_hidden_layers
    # q and o: d x d; k and v: d x (d x kv heads / heads); gate, up, down: d x intermediate
    per_layer = 2 * d * d * (1 + config.num_key_value_heads / config.num_attention_heads) \
        + 3 * d * config.intermediate_size
    non_embedding = layers * per_layer
    return sum(6 * non_embedding * t + 12 * layers * d * t * t for t in lengths)


def describe(host: dict) -> str:
    flags = ", ".join(f"{flag} {'yes' if present else 'no'}" for flag, present in host["flags"].items())
    versions = ", ".join(f"{k} {v}" for k, v in host["versions"].items())
    return (f"Machine: {host['cpu']}, {host['logical_cpus']} logical CPUs, {host['torch_threads']} torch threads, "
            f"{host['memory_gib']} GiB; {flags}.  \nPython {host['python']}, {versions}, trl {host.get('trl')}; "
            f"tailor {host['tailor_commit']}; {host['date_utc']} UTC.")


def summarize(runs: list[dict], tokens: int, flops: float) -> dict:
    for r in runs:
        r["tokens_per_s"] = tokens / r["train_s"]
        r["of_bf16_peak"] = flops / r["train_s"] / r["round_peak_bf16"] if r.get("round_peak_bf16") else None
    median = lambda key: statistics.median(r[key] for r in runs) if runs[0].get(key) is not None else None  # noqa: E731
    return {"whole_s": median("whole_s"), "train_s": median("train_s"), "tokens_per_s": median("tokens_per_s"),
            "of_bf16_peak": median("of_bf16_peak"), "useful_gflops": flops / median("train_s") / 1e9,
            "peak_rss_mb": max(r["peak_rss_mb"] for r in runs), "steps": runs[0]["steps"],
            "each_whole_s": [r["whole_s"] for r in runs], "each_tokens_per_s": [round(r["tokens_per_s"], 1) for r in runs]}


def table(results: dict, medians: dict, tokens: int, chats: int, machine: str, peaks: list[float | None]) -> str:
    rows = []
    for name, m in medians.items():
        settings = ", ".join(f"{k} {v}" for k, v in results[name][0]["settings"].items())
        share = f"{m['of_bf16_peak']:.1%}" if m["of_bf16_peak"] is not None else "-"
        rows.append(f"| {name} | **{m['whole_s']:.0f}** {m['each_whole_s']} | {m['train_s']:.0f} "
                    f"| **{m['tokens_per_s']:.1f}** {m['each_tokens_per_s']} | {m['useful_gflops']:.0f} | {share} "
                    f"| {m['steps']} | {m['peak_rss_mb']:.0f} | {settings} |")
    known = [p for p in peaks if p]
    peak_text = f"{min(known) / 1e9:.0f}-{max(known) / 1e9:.0f} GFLOP/s" if known else "no native bf16"
    lines = ["# Chat fine-tuning: tailor vs TRL SFTTrainer (defaults)\n", machine,
             f"bf16 peak (fastest 2048^3 matmul, before each round): {peak_text}.", "",
             f"Data: {chats} conversations, {tokens:,} tokens as SmolLM2's chat template renders them; one epoch; "
             "SmolLM2-135M-Instruct (embedded, fp32 weights); LoRA r 8, alpha 16, dropout 0, all linear layers "
             f"(the same for both); {len(next(iter(results.values())))} rounds, contenders interleaved; medians, "
             "each round in brackets.", "",
             "| contender | whole process (s) | training (s) | tokens/s | useful GFLOP/s | of the round's bf16 peak "
             "| steps | peak RSS (MB) | settings |", "|---|---|---|---|---|---|---|---|---|", *rows]
    if {"trl", "tailor"} <= set(medians):
        whole = medians["trl"]["whole_s"] / medians["tailor"]["whole_s"]
        speed = medians["tailor"]["tokens_per_s"] / medians["trl"]["tokens_per_s"]
        memory = medians["tailor"]["peak_rss_mb"] / medians["trl"]["peak_rss_mb"]
        met = "met" if whole >= TARGET and memory <= MEMORY_TARGET else "NOT met"
        lines += ["", f"tailor: **{whole:.2f}x** TRL's whole-process speed ({speed:.2f}x its training tokens/s) at "
                      f"**{memory:.2f}x** its peak RSS (target >= {TARGET}x at <= {MEMORY_TARGET}x: {met})."]
        share = medians["tailor"]["of_bf16_peak"]
        if share is not None:
            lines.append(f"tailor's training at {share:.1%} of the bf16 peak (target >= {PEAK_SHARE_GOAL:.0%}: "
                         f"{'met' if share >= PEAK_SHARE_GOAL else 'NOT met'}).")
    lines += ["", "Whole process = each contender's process from start to exit (model load, data, training, for "
              "tailor also its end-of-epoch evaluation and the saved adapter). Useful FLOPs = 6 x non-embedding "
              "parameters x the rendered tokens + attention, over the training seconds (README.md)."]
    return "\n".join(lines) + "\n"


def main() -> None:
    args = options()
    from tailor.models.catalog import EMBEDDED

    model = EMBEDDED["smollm2"].path()  # converts the GGUF once, before any clock runs
    train, evaluation, chats, tokens, lengths = prepare(args.repeat, args.smoke)
    import importlib.metadata

    host = machine()
    host["trl"] = importlib.metadata.version("trl")
    results: dict[str, list[dict]] = {name: [] for name in args.only}
    peaks = []
    for round_index in range(1, args.rounds + 1):
        peak = gemm_peak("bfloat16") if host["bf16_native"] else None  # this VM's speed drifts: per round
        peaks.append(peak)
        for name in args.only:
            extra = args.tailor_set if name == "tailor" else []
            results[name].append({**run(name, train, evaluation, model, extra, round_index), "round_peak_bf16": peak})
    flops = useful_flops(model, lengths)
    medians = {name: summarize(runs, tokens, flops) for name, runs in results.items()}
    text = table(results, medians, tokens, chats, describe(host), peaks)
    stem = (WORK / "results-smoke" if args.smoke else HERE / "results" / "chat_vs_trl")
    stem.parent.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".md").write_text(text)
    stem.with_suffix(".json").write_text(json.dumps({"machine": host, "tokens": tokens, "chats": chats,
                                                     "useful_flops": flops, "medians": medians,
                                                     "results": results}, indent=2))
    print(text)


if __name__ == "__main__":
    main()
