"""The GGUF export folder of a chat run, checked before it is handed over:

    OUT/model.<quantize>.gguf   weights, vocabulary, chat template, end-of-turn token as EOS
    OUT/Modelfile               `ollama create NAME -f OUT/Modelfile`
    OUT/verification.json       the check against the run's own model (also printed)

The check loads the file back with transformers' own GGUF reader (dequantized) and compares it
with the run's model, merged, in fp32, on the run's held-out prompts, answered greedily:
- the tokenizer rebuilt from the file must give the same token ids for every prompt;
- the file's EOS must be the end-of-turn token the run's model stops at;
- the share of prompts answered identically (token for token), where answers first differ, and how
  many answers stop at the end-of-turn token within the budget, for both.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from tailor.config import Config
from tailor.errors import ConfigError

# f16 changes nothing a greedy answer should notice (16 of 16 identical on a tuned SmolLM2).
# Quantized weights move answers of a small model onto other paths early (q8_0: 6 of 16 identical,
# first difference at token 9), so for them the held-out loss is the check that answers did not
# get worse: it may rise by at most LOSS_TOLERANCE (--max-loss-increase). --min-agreement sets
# another share. q4_0 on the 135M assistant: loss 0.4707 -> 0.7889, refused by default.
MIN_AGREEMENT = {"f16": 0.9, "q8_0": 0.0, "q4_0": 0.0}
LOSS_TOLERANCE = 0.05
CHECK_PROMPTS = 16
CHECK_TOKENS = 48


def write_gguf_export(run_dir: Path, out: Path, quantize: str, *, min_agreement: float | None = None,
                      max_loss_increase: float = LOSS_TOLERANCE, overwrite: bool = False) -> dict:
    from tailor.exports.checked import reload_run_data, require_format, write_checked
    from tailor.exports.gguf import QUANTIZE, check_exportable, write_gguf
    from tailor.exports.modelfile import modelfile
    from tailor.models.methods import merge_for_export
    from tailor.verbs.common import load_run

    if quantize not in QUANTIZE:
        raise ConfigError(f"--quantize {quantize}: a GGUF export is one of {', '.join(QUANTIZE)}")
    cfg, task, model, tokenizer = load_run(run_dir)
    require_format(task, "gguf", "chat runs (causal language models)")
    model = merge_for_export(model).to("cpu")
    check_exportable(model, tokenizer)
    end_of_turn = tokenizer.eos_token_id
    pieces = _turn_pieces(tokenizer)
    data = reload_run_data(task, cfg)
    examples = data.eval
    prompts = [prompt.messages for prompt in task.held_out_prompts(data)[:CHECK_PROMPTS]]
    threshold = MIN_AGREEMENT[quantize] if min_agreement is None else min_agreement
    name = f"model.{quantize}.gguf"

    def write(folder: Path) -> dict:
        started = time.perf_counter()
        with tempfile.TemporaryDirectory() as saved:
            tokenizer.save_pretrained(saved)
            write_gguf(model, tokenizer, Path(saved), folder / name, quantize, end_of_turn, Path(run_dir).name)
        (folder / "Modelfile").write_text(modelfile(name, pieces), encoding="utf-8")
        exported_tokenizer, exported = _read_back(folder, name)
        report = {"format": "gguf", "variant": quantize, "reference": "the run's model, merged, in fp32 (PyTorch)",
                  "checked_on": f"{len(prompts)} held-out prompts, greedy, up to {CHECK_TOKENS} new tokens",
                  **compare_answers(model, tokenizer, exported, exported_tokenizer, prompts, end_of_turn),
                  "loss": _losses(task, cfg, model, exported, tokenizer, examples),
                  "required_agreement": threshold, "size_mb": round((folder / name).stat().st_size / 2**20, 1)}
        report["allowed_loss_increase"] = max_loss_increase
        report["failures"] = _failures(report, threshold, max_loss_increase)
        report["passed"] = not report["failures"]
        report["seconds"] = round(time.perf_counter() - started, 1)
        return report

    return write_checked(out, write, overwrite, f"{quantize} GGUF")


def _turn_pieces(tokenizer):
    from tailor.errors import ExportError
    from tailor.exports.modelfile import TurnPieces

    try:
        return TurnPieces.derive(tokenizer, tokenizer.eos_token)
    except ValueError as exc:
        raise ExportError(f"--format gguf: the Ollama Modelfile's template cannot be derived from this model's chat "
                          f"template ({exc})") from None


def _read_back(folder: Path, name: str):
    """(tokenizer, model) rebuilt from the GGUF file by transformers' own reader, dequantized to fp32."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    return tokenizer, model


def _losses(task, cfg: Config, model, exported, tokenizer, examples) -> dict:
    """Held-out loss per trained token of both models (the run's own metric)."""
    batch = cfg.eval.batch_size
    return {who: round(task.evaluate(m, tokenizer, examples, cfg, batch)["loss"], 6)
            for who, m in (("model", model), ("export", exported))}


def _failures(report: dict, threshold: float, max_loss_increase: float) -> list[str]:
    failures = []
    if report["agreement"] is not None and report["agreement"] < threshold:
        failures.append(f"identical answers {report['agreement']:.0%} < the {threshold:.0%} required")
    if report["tokenizer_identical"] < report["prompts"]:
        failures.append(f"its tokenizer splits {report['prompts'] - report['tokenizer_identical']} prompts differently")
    if not report["eos_is_end_of_turn"]:
        failures.append("its EOS is not the end-of-turn token, so llama.cpp would not stop where the model stops")
    loss = report["loss"]
    if loss["export"] > loss["model"] * (1 + max_loss_increase):
        failures.append(f"held-out loss {loss['export']:.4f} > {1 + max_loss_increase:g} x the run's {loss['model']:.4f}; "
                        "a finer --quantize keeps more, or --max-loss-increase accepts it")
    return failures


def compare_answers(model, tokenizer, exported, exported_tokenizer, prompts: list[list[dict]], end_of_turn: int) -> dict:
    """The file read back by transformers beside the run's model, prompt by prompt."""
    from tailor.data.chat_tokens import render_prompt
    from tailor.models.generation import answer_ids

    same_tokens = sum(render_prompt(tokenizer, p) == render_prompt(exported_tokenizer, p) for p in prompts)
    identical, divergences, stops = 0, [], {"model": 0, "export": 0}
    for messages in prompts:
        expected = answer_ids(model, tokenizer, messages, max_new_tokens=CHECK_TOKENS)
        got = answer_ids(exported, tokenizer, messages, max_new_tokens=CHECK_TOKENS)
        identical += expected == got
        if expected != got:
            divergences.append(next((i for i, (a, b) in enumerate(zip(expected, got)) if a != b),
                                    min(len(expected), len(got))))
        stops["model"] += bool(expected) and expected[-1] == end_of_turn
        stops["export"] += bool(got) and got[-1] == end_of_turn
    return {"prompts": len(prompts), "answers_identical": identical,
            # None: no held-out prompts (plain-text data); the loss still checks the file
            "agreement": round(identical / len(prompts), 4) if prompts else None,
            "first_difference_median_token": statistics.median(divergences) if divergences else None,
            "answers_stopping_at_end_of_turn": stops, "tokenizer_identical": same_tokens,
            "eos_is_end_of_turn": exported_tokenizer.eos_token_id == end_of_turn}


def summary(report: dict) -> str:
    if report["agreement"] is None:
        line = "no held-out prompts to answer"
    else:
        line = (f"identical greedy answers to {report['answers_identical']} of {report['prompts']} held-out prompts "
                f"({report['agreement']:.0%})")
    if report["first_difference_median_token"] is not None:
        line += f", the others first differ at token {report['first_difference_median_token']:g} (median)"
    stops = report["answers_stopping_at_end_of_turn"]
    loss = report.get("loss") or {}
    line += f"; answers ending at the end-of-turn token: {stops['export']} (the run's model: {stops['model']})"
    if loss:
        line += f"; held-out loss {loss['export']:.4f} (the run's model: {loss['model']:.4f})"
    return line + f"; tokenizer identical on {report['tokenizer_identical']} of {report['prompts']} prompts"
