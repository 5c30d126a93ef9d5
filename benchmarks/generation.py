"""How fast tailor answers with a small LLM on this CPU, beside transformers and llama.cpp.

    python benchmarks/generation.py RUN_DIR [--llama-cpp PATH/TO/llama.cpp/build/bin] [--repeats 3]

RUN_DIR is a chat run of SmolLM2-135M (the assistant recipe: examples/assistant). In one run, the
contenders taking turns, medians over the repeats:
- steady-state decode speed (tokens/s after the first token, one conversation, 128 new tokens):
  tailor's decode loop in fp32, bf16 and int8 (what `tailor chat --precision` uses; int8 runs the
  onnxruntime-genai graph), transformers' `generate` in fp32, and llama.cpp's `llama-bench` tg128 on the GGUF file the smollm2 package ships
  (Q4_1) when --llama-cpp is given (built as ../shared/ASSETS.md section 10 says); each as a share of
  the memory-bandwidth ceiling measured here (bytes of weights read per token vs bytes/s read);
- whole process, 4 prompts x up to 160 new tokens, greedy: `tailor predict RUN --data prompts`
  vs a plain transformers script (load the run's model, merge its adapter, `generate` each prompt).
Writes benchmarks/results/generation.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

NEW_TOKENS = 128
PROMPTS = ["Explain how a bicycle works, step by step.", "Write a short story about a lighthouse keeper.",
           "What should I pack for a week of hiking in the mountains?", "Describe the water cycle in detail."]
PLAIN_SCRIPT = '''
import sys, json, torch
from peft import AutoPeftModelForCausalLM
from transformers import AutoTokenizer
run, prompts, new = sys.argv[1], json.load(open(sys.argv[2])), int(sys.argv[3])
tok = AutoTokenizer.from_pretrained(run + "/model")
model = AutoPeftModelForCausalLM.from_pretrained(run + "/model", dtype=torch.float32).merge_and_unload().eval()
out = []
for p in prompts:
    ids = tok.apply_chat_template([{"role": "user", "content": p}], add_generation_prompt=True, return_tensors="pt",
                                  return_dict=True)
    with torch.inference_mode():
        g = model.generate(**ids, max_new_tokens=new, do_sample=False)
    out.append(tok.decode(g[0, ids["input_ids"].shape[1]:], skip_special_tokens=True))
print(json.dumps(out))
'''


def options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path)
    parser.add_argument("--llama-cpp", type=Path, help="folder with llama-bench (optional)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--whole-tokens", type=int, default=160)
    return parser.parse_args()


def read_bandwidth() -> float:
    """Bytes/s of reading a 1 GiB tensor (the best of 5): what decoding a token is bound by."""
    import torch

    data = torch.ones(2 ** 28, dtype=torch.float32)
    best = 0.0
    for _ in range(5):
        start = time.perf_counter()
        data.sum()
        best = max(best, data.numel() * 4 / (time.perf_counter() - start))
    return best


def weight_bytes(model) -> int:
    """Bytes read per decoded token: every parameter and buffer once (the tied head counted once);
    for the int8 graph, its initializers but the embedding table (one row of it is read a token:
    the graph's head is a separate int8 matrix)."""
    if hasattr(model, "folder"):
        import numpy as np
        import onnx

        graph = onnx.load(str(model.folder / "model.onnx"), load_external_data=False).graph
        return sum(int(np.prod(t.dims)) * onnx.helper.tensor_dtype_to_np_dtype(t.data_type).itemsize
                   for t in graph.initializer if "embed_tokens" not in t.name)
    seen, total = set(), 0
    for tensor in list(model.parameters()) + list(model.buffers()):
        if tensor.data_ptr() not in seen and tensor.dim() > 1:
            seen.add(tensor.data_ptr())
            total += tensor.numel() * tensor.element_size()
    return total


def tailor_decode(model, tokenizer) -> float:
    from tailor.data.chat_tokens import render_prompt
    from tailor.models.decoding import DecodeBatch, Reply, Sampling

    batch = DecodeBatch(model, tokenizer, [])  # no stop token: exactly NEW_TOKENS
    batch.add([Reply(render_prompt(tokenizer, [{"role": "user", "content": PROMPTS[0]}]), Sampling(NEW_TOKENS))])
    start = time.perf_counter()
    steps = 0
    while len(batch):
        batch.step()
        steps += 1
    return steps / (time.perf_counter() - start)


def hf_generate(model, tokenizer) -> float:
    import torch

    ids = tokenizer.apply_chat_template([{"role": "user", "content": PROMPTS[0]}], add_generation_prompt=True,
                                        return_tensors="pt", return_dict=True)

    def timed(tokens: int) -> float:
        start = time.perf_counter()
        with torch.inference_mode():
            model.generate(**ids, max_new_tokens=tokens, min_new_tokens=tokens, do_sample=False, temperature=None,
                           top_p=None, top_k=None)
        return time.perf_counter() - start

    first = timed(1)
    return (NEW_TOKENS - 1) / (timed(NEW_TOKENS) - first)


def llama_bench(binaries: Path, gguf: Path) -> float:
    command = [str(binaries / "llama-bench"), "-m", str(gguf), "-p", "0", "-n", str(NEW_TOKENS), "-o", "json",
               "-t", str(os.cpu_count()), "-r", "1"]
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "LD_LIBRARY_PATH": str(binaries)})
    return float(json.loads(done.stdout)[0]["avg_ts"])


def whole_process(run: Path, new_tokens: int, folder: Path) -> dict:
    prompts = folder / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"prompt": p}) + "\n" for p in PROMPTS))
    (folder / "prompts.json").write_text(json.dumps(PROMPTS))
    (folder / "plain.py").write_text(PLAIN_SCRIPT)
    tailor_bin = Path(sys.executable).parent / "tailor"
    commands = {
        "tailor predict (fp32)": [str(tailor_bin), "predict", str(run), "--data", str(prompts), "--max-new-tokens",
                                  str(new_tokens), "--temperature", "0", "--output", str(folder / "t.jsonl")],
        "tailor predict (int8)": [str(tailor_bin), "predict", str(run), "--data", str(prompts), "--max-new-tokens",
                                  str(new_tokens), "--temperature", "0", "--precision", "int8",
                                  "--output", str(folder / "t8.jsonl")],
        "plain transformers script": [sys.executable, str(folder / "plain.py"), str(run), str(folder / "prompts.json"),
                                      str(new_tokens)],
    }
    seconds, outputs = {}, {}
    for name, command in commands.items():
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
        seconds[name] = time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(f"{name} failed: {done.stderr[-2000:]}")
        outputs[name] = done.stdout
    plain = json.loads(outputs["plain transformers script"])
    tailor_answers = [json.loads(line)["answer"] for line in (folder / "t.jsonl").read_text().splitlines()]
    seconds["same answers (fp32)"] = sum(a.strip() == b.strip() for a, b in zip(plain, tailor_answers))
    return seconds


def main() -> None:
    args = options()
    from run import machine
    from tailor.models.catalog import EMBEDDED
    from tailor.serving.answerer import load_answerer
    from transformers import AutoTokenizer

    host = machine()
    tokenizer = AutoTokenizer.from_pretrained(args.run / "model")
    models = {p: load_answerer(args.run, p).model for p in ("fp32", "bf16", "int8")}
    gguf = EMBEDDED["smollm2"].shipped_path() if args.llama_cpp else None
    speeds: dict[str, list[float]] = {}
    bandwidth = []
    for _ in range(args.repeats):
        bandwidth.append(read_bandwidth())
        for precision, model in models.items():
            speeds.setdefault(f"tailor decode loop, {precision}", []).append(tailor_decode(model, tokenizer))
        speeds.setdefault("transformers generate, fp32", []).append(hf_generate(models["fp32"], tokenizer))
        if gguf is not None:
            speeds.setdefault("llama.cpp llama-bench tg128, Q4_1 (shipped)", []).append(llama_bench(args.llama_cpp, gguf))
    read = statistics.median(bandwidth)
    sizes = {name: weight_bytes(models[name.rsplit(", ", 1)[1]]) if "tailor" in name or "transformers" in name
             else gguf.stat().st_size for name in speeds}
    whole = [whole_process(args.run, args.whole_tokens, Path(tempfile.mkdtemp())) for _ in range(args.repeats)]
    write(host, args, read, speeds, sizes, whole)


def write(host: dict, args, read: float, speeds: dict, sizes: dict, whole: list[dict]) -> None:
    medians = {name: statistics.median(values) for name, values in speeds.items()}
    lines = ["# Generation speed: tailor vs transformers vs llama.cpp (SmolLM2-135M)\n",
             f"Machine: {host['cpu']}, {host['logical_cpus']} CPUs, bf16 native: {host['bf16_native']}; torch "
             f"{host['versions']['torch']} ({host['torch_threads']} threads), transformers "
             f"{host['versions']['transformers']}; tailor {host['tailor_commit']}; {host['date_utc']} UTC. "
             f"Medians of {args.repeats} interleaved repeats. Memory read: {read / 1e9:.1f} GB/s.\n",
             "## Steady-state decoding (one conversation, 128 new tokens)\n",
             "| contender | tokens/s | weights read per token (MB) | ceiling (tokens/s) | share of ceiling |",
             "|---|---|---|---|---|"]
    for name, value in medians.items():
        ceiling = read / sizes[name]
        lines.append(f"| {name} | {value:.1f} | {sizes[name] / 1e6:.0f} | {ceiling:.0f} | {value / ceiling:.0%} |")
    llama = next((v for k, v in medians.items() if k.startswith("llama.cpp")), None)
    if llama:
        best = max(v for k, v in medians.items() if k.startswith("tailor"))
        lines.append(f"\ntailor's fastest path: {best / llama:.2f}x llama.cpp's speed.")
    keys = [k for k in whole[0] if not k.startswith("same")]
    whole_medians = {k: statistics.median(w[k] for w in whole) for k in keys}
    plain = whole_medians["plain transformers script"]
    lines += [f"\n## Whole process: {len(PROMPTS)} prompts x up to {args.whole_tokens} new tokens, greedy\n",
              "| command | seconds | vs the plain script |", "|---|---|---|"]
    lines += [f"| {k} | {v:.1f} | {plain / v:.2f}x |" for k, v in whole_medians.items()]
    lines.append(f"\nThe fp32 answers were the same as the plain script's for "
                 f"{min(w['same answers (fp32)'] for w in whole)} of {len(PROMPTS)} prompts (each repeat).")
    out = HERE / "results" / "generation"
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    out.with_suffix(".json").write_text(json.dumps({"machine": host, "read_bytes_per_s": read, "speeds": speeds,
                                                    "weight_bytes": sizes, "whole_process": whole}, indent=2))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
