"""How far one training step is from the machine: MiniLM classification steps at several batch shapes,
as tailor runs them (bf16 autocast where native, eager attention, no dropout, frozen word embeddings,
fused AdamW), against the matmul peak measured in the same run.

    .venv/bin/python benchmarks/step_efficiency.py          # ~5 min on 2 cores

For each (rows x tokens) shape: the median step time over repeats (after warm-up), the useful FLOP
rate (6 x non-embedding parameters x tokens, attention's 12 x layers x tokens x length x width on
top) and its share of the bf16 (else fp32) peak. Writes benchmarks/results/step_efficiency.{md,json}.
This is the measurement the token-budget lever of issue 17 is decided on: how many tokens a step
needs before the matrix units, not the per-step overhead, set its time.

Beside each step as tailor takes it, the same shape as a ceiling: forward and backward alone, with
the weights themselves in bf16 (no autocast casts, no optimizer, no gradient clipping). No engine
setting can make eager PyTorch train this model faster than that at that shape; what separates the
ceiling from the peak is the model's own non-matmul work (GELU, LayerNorm, softmax, the residual
adds, autograd) and its small matmuls (384 wide).
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

SHAPES = [(8, 32), (16, 32), (32, 32), (64, 32), (128, 32), (256, 32), (8, 128), (32, 128), (64, 128), (128, 64),
          (32, 256), (128, 128)]  # (rows, tokens); tailor's tweets default is ~30 x 32 (1,024 tokens)
REPEATS = 5
ROUNDS = 3  # the sweep runs this many times, shapes interleaved: this machine's speed drifts by 2x over minutes


def minilm_classifier():
    import torch
    from transformers import AutoModelForSequenceClassification

    from common import minilm_path

    model = AutoModelForSequenceClassification.from_pretrained(minilm_path(), num_labels=2)
    model.set_attn_implementation("eager")
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    model.get_input_embeddings().weight.requires_grad_(False)
    from tailor.training.engine import norm_outputs_in_autocast_dtype

    norm_outputs_in_autocast_dtype(model)  # as tailor trains under bf16 autocast
    model.train()
    return model


def bf16_copy(model):
    """The ceiling's model: every weight in bf16, so nothing is cast at run time."""
    import copy

    import torch

    return copy.deepcopy(model).to(torch.bfloat16)


def step_seconds(model, rows: int, tokens: int, bf16: bool, optimizer: bool = True) -> float:
    """A training step as tailor takes it (autocast where bf16 is native, clipping, fused AdamW), or
    with optimizer=False forward and backward alone (the ceiling, on `bf16_copy`)."""
    import torch

    trained = [p for p in model.parameters() if p.requires_grad]
    adamw = torch.optim.AdamW(trained, lr=1e-5, fused=True) if optimizer else None
    ids = torch.randint(1000, 20000, (rows, tokens))
    labels = torch.randint(0, 2, (rows,))
    times = []
    for _ in range(REPEATS + 2):
        started = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16 and optimizer):
            loss = model(input_ids=ids, attention_mask=torch.ones_like(ids), labels=labels).loss
        loss.backward()
        if adamw is not None:
            torch.nn.utils.clip_grad_norm_(trained, 1.0)  # the Trainer's max_grad_norm
            adamw.step()
        model.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times[2:])


def useful_flops(model, rows: int, tokens: int) -> float:
    """Training FLOPs of one step: 6 per non-embedding parameter per token, plus attention scores."""
    config = model.config
    embedding = sum(p.numel() for name, p in model.named_parameters() if "embeddings" in name)
    dense = sum(p.numel() for p in model.parameters()) - embedding
    attention = 12 * config.num_hidden_layers * tokens * config.hidden_size  # per token: QK^T and AV, x3 for training
    return rows * tokens * (6 * dense + attention)


def main() -> None:
    import torch

    from run import gemm_peak, machine

    host = machine()
    bf16 = host["bf16_native"]
    dtype = "bfloat16" if bf16 else "float32"
    peaks = [gemm_peak(dtype)]
    model = minilm_classifier()
    ceiling_model = bf16_copy(model) if bf16 else model
    times: dict[tuple[int, int], list[float]] = {shape: [] for shape in SHAPES}
    ceiling: dict[tuple[int, int], list[float]] = {shape: [] for shape in SHAPES}
    for round_ in range(ROUNDS):
        for shape in SHAPES:
            times[shape].append(step_seconds(model, *shape, bf16))
            ceiling[shape].append(step_seconds(ceiling_model, *shape, bf16, optimizer=False))
        peaks.append(gemm_peak(dtype))
        print(f"round {round_ + 1}: " + ", ".join(f"{r}x{t} {times[(r, t)][-1] * 1000:.0f} ms "
                                                  f"(ceiling {ceiling[(r, t)][-1] * 1000:.0f})" for r, t in SHAPES),
              flush=True)
    peak = max(peaks)
    rows = []
    # Each round against the peak measured around it (the better of before and after), so that the
    # machine's drift cancels out of the share.
    round_peaks = [max(before, after) for before, after in zip(peaks, peaks[1:])]
    for (batch, tokens), measured in times.items():
        seconds, work = statistics.median(measured), useful_flops(model, batch, tokens)
        shares = [work / s / p for s, p in zip(measured, round_peaks)]
        ceiling_shares = [work / s / p for s, p in zip(ceiling[(batch, tokens)], round_peaks)]
        rows.append({"rows": batch, "tokens": tokens, "step_s": round(seconds, 4),
                     "step_s_range": [round(min(measured), 4), round(max(measured), 4)],
                     "tokens_per_s": round(batch * tokens / seconds), "useful_gflops": round(work / seconds / 1e9, 1),
                     "of_peak": round(statistics.median(shares), 3),
                     "of_peak_range": [round(min(shares), 3), round(max(shares), 3)],
                     "ceiling_step_s": round(statistics.median(ceiling[(batch, tokens)]), 4),
                     "ceiling_of_peak": round(statistics.median(ceiling_shares), 3)})
    write_results(rows, host, peak, "bf16" if bf16 else "fp32", torch.get_num_threads(), peaks)


def write_results(rows: list[dict], host: dict, peak: float, dtype: str, threads: int, peaks: list[float]) -> None:
    table = "\n".join(f"| {r['rows']} x {r['tokens']} | {r['step_s'] * 1000:.0f} ms ({r['step_s_range'][0] * 1000:.0f}-"
                      f"{r['step_s_range'][1] * 1000:.0f}) | {r['tokens_per_s']:,} | {r['useful_gflops']:.0f} | "
                      f"{r['of_peak']:.0%} ({r['of_peak_range'][0]:.0%}-{r['of_peak_range'][1]:.0%}) | "
                      f"{r['ceiling_step_s'] * 1000:.0f} ms | {r['ceiling_of_peak']:.0%} |" for r in rows)
    text = (f"# One MiniLM classification training step against the machine\n\nMachine: {host['cpu']}, "
            f"{host['logical_cpus']} CPUs ({threads} torch threads), bf16 native {host['bf16_native']}, tailor "
            f"{host['tailor_commit']}, {host['date_utc']} UTC. Peak: the fastest 2048^3 {dtype} matmul, measured "
            f"before and after each round, **{peak / 1e9:.0f} GFLOP/s** (the rounds: "
            f"{', '.join(f'{p / 1e9:.0f}' for p in peaks)}). Steps as tailor trains ({dtype} autocast, eager attention, "
            f"dropout 0, frozen word embeddings, norms' outputs in bf16, gradient clipping, fused AdamW): per round the median of {REPEATS} steps after 2 "
            f"warm-up steps; the table has the median over {ROUNDS} interleaved rounds (range in brackets), each "
            "round's share taken against the peak measured around it. Ceiling: the same shape's forward and "
            "backward alone with the weights in bf16 (no casts, no optimizer): what eager PyTorch reaches for this "
            "model's arithmetic at that shape, whatever the engine does around it.\n\n"
            "| rows x tokens | step | tokens/s | useful GFLOP/s | of the round's peak | ceiling step | ceiling of "
            "peak |\n|---|---|---|---|---|---|---|\n"
            f"{table}\n")
    folder = HERE / "results"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "step_efficiency.md").write_text(text)
    (folder / "step_efficiency.json").write_text(json.dumps({"machine": host, "peak_flops": peak, "rows": rows},
                                                            indent=2))
    print(text)


if __name__ == "__main__":
    main()
