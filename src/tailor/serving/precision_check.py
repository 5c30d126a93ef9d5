"""`--precision`: the precision a run answers in, and `auto`'s check that a lossy one answers alike.

`auto` answers the run's held-out inputs in fp32 and in each lossy precision (int8 and bf16 for chat
runs, bf16 for the others), and keeps the fastest whose answers were all the same as fp32's (every
greedy answer token for token for chat, every label and entity for classifiers), if it was at least
1.1x as fast; else fp32. It is checked once per model and machine kind
and recorded in RUN/answering/precision.json, so later starts reuse the answer; a CPU without
native bf16 keeps fp32 without a check (bf16 and int8 would be slower there, not faster).
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import time
from pathlib import Path

from tailor.console import say, warn
from tailor.errors import ConfigError, TailorError
from tailor.io import atomic_write_json
from tailor.models.precision import (LOSSY, PRECISIONS, answering_folder, for_answers, native_bf16,
                                    weights_fingerprint)

RECORD_FILE = "precision.json"
CHECK_PROMPTS = 8  # held-out prompts a chat run's candidates answer
CHECK_ROWS = 512  # held-out rows a classifier's candidates answer
FASTER = 1.1  # how much faster than fp32 a lossy precision must answer to be chosen


def answering_model(requested: str, folder: Path, cfg, task, model, processor):
    """(model ready to answer, the precision used, one line saying how it was chosen); `folder`: the
    run or export folder the model was loaded from."""
    from tailor.verbs.common import model_folder

    if requested not in PRECISIONS:
        raise ConfigError(f"--precision {requested}: choose one of {', '.join(PRECISIONS)}")
    generates = task.targets == "text"
    from tailor.models.classical import ClassicalTextModel

    if isinstance(model, ClassicalTextModel):  # model: auto kept TF-IDF + logistic regression
        if requested not in ("fp32", "auto"):
            raise ConfigError(f"--precision {requested}: this run answers with TF-IDF + logistic regression "
                              "(scikit-learn), which has one precision")
        return model, "fp32", "TF-IDF + logistic regression (scikit-learn)"
    if not hasattr(model, "parameters"):  # an ONNX export: its precision was fixed when it was written
        if requested not in ("fp32", "auto"):
            raise ConfigError(f"--precision {requested} is for a run folder; an ONNX export answers in the precision "
                              "it was exported with (tailor export --quantize)")
        return model, "onnx", "the ONNX export as written"
    model_dir = model_folder(folder)
    if requested != "auto":
        note = "fp32, the weights as trained" if requested == "fp32" else f"{requested}, as --precision asked (lossy)"
        return for_answers(model, requested, generates=generates, model_dir=model_dir), requested, note
    chosen, why = _auto(model_dir, cfg, task, model, processor, generates)
    return for_answers(model, chosen, generates=generates, model_dir=model_dir), chosen, why


def _auto(model_dir: Path, cfg, task, model, processor, generates: bool) -> tuple[str, str]:
    if not native_bf16():
        return "fp32", "fp32 (auto: this CPU has no native bf16, so bf16 and int8 would be slower)"
    candidates = [p for p in LOSSY if generates or p != "int8"]
    record_path = answering_folder(model_dir) / RECORD_FILE
    key = _fingerprint(model_dir)
    record = _read_record(record_path)
    if record.get("key") != key:
        record = {"key": key, **_check(cfg, task, model, processor, candidates, generates, model_dir)}
        try:
            record_path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_json(record_path, record)
        except OSError as exc:
            warn(f"could not record the precision check in {record_path} ({exc}); it will run again next time")
    chosen = record.get("chosen", "fp32")
    return chosen, f"{chosen} (auto: {record['why']}; {record_path})"


def _check(cfg, task, model, processor, candidates: list[str], generates: bool, model_dir: Path) -> dict:
    """Answer the held-out inputs in fp32 and in each candidate; the first that matches wins."""
    from tailor.exports.checked import reload_run_data

    try:
        data = reload_run_data(task, cfg)
    except TailorError as exc:
        return {"chosen": "fp32", "why": f"fp32, as the run's held-out data could not be read to check the others "
                                         f"({exc})"}
    inputs = task.held_out_prompts(data)[:CHECK_PROMPTS] if generates else data.eval.subset(
        range(min(CHECK_ROWS, len(data.eval))))
    if not len(inputs):
        return {"chosen": "fp32", "why": "fp32, as the run has no held-out inputs to check the others on"}
    what = "greedy answers to held-out prompts" if generates else "answers to held-out rows"
    say(f"--precision auto: checking {', '.join(candidates)} against fp32 on {len(inputs)} {what} (once)")

    def answers_in(precision: str) -> tuple[list, float]:
        ready = for_answers(copy.deepcopy(model), precision, generates=generates, model_dir=model_dir)
        started = time.perf_counter()
        return _answers(cfg, task, ready, processor, inputs, generates), time.perf_counter() - started

    reference, fp32_seconds = answers_in("fp32")
    checked = {"fp32": {"seconds": round(fp32_seconds, 2)}}
    for candidate in candidates:
        answers, seconds = answers_in(candidate)
        checked[candidate] = {"same": sum(a == b for a, b in zip(answers, reference)), "of": len(reference),
                              "seconds": round(seconds, 2)}
    return {"checked": checked, "date": _today(), **_verdict(checked, what)}


def _verdict(checked: dict, what: str) -> dict:
    """The fastest lossy precision whose answers were all fp32's, if it answered them at least
    FASTER times as fast as fp32 (bf16 decodes no faster than fp32 on many CPUs: then fp32 stays)."""
    fp32 = checked["fp32"]["seconds"]
    alike = sorted((v["seconds"], name) for name, v in checked.items() if name != "fp32" and v["same"] == v["of"])
    tried = "; ".join(f"{name} {v['same']} of {v['of']} the same in {v['seconds']} s"
                      for name, v in checked.items() if name != "fp32")
    if alike and alike[0][0] * FASTER <= fp32:
        seconds, name = alike[0]
        return {"chosen": name, "why": f"its {what} were all the same as fp32's, {fp32 / seconds:.1f}x as fast "
                                       f"({tried}; fp32 {fp32} s)"}
    reason = "none that answered alike was faster" if alike else "none answered alike"
    return {"chosen": "fp32", "why": f"fp32, as {reason} ({tried}; fp32 {fp32} s)"}


def _answers(cfg, task, model, processor, inputs, generates: bool) -> list:
    if generates:
        from tailor.models.decoding import Sampling
        from tailor.models.generation import answer_all

        sampling = Sampling(max_new_tokens=cfg.options.max_new_tokens)
        return [r.ids for r in answer_all(model, processor, [p.messages for p in inputs], sampling)]
    return [_discrete(answer) for answer in task.predict(model, processor, inputs, cfg, cfg.eval.batch_size)]


def _discrete(answer):
    """What an answer says, without the scores that any change of precision moves a little."""
    if isinstance(answer, dict):
        return {k: _discrete(v) for k, v in answer.items() if k not in ("score", "probabilities")}
    if isinstance(answer, list):
        return [_discrete(v) for v in answer]
    return answer


def _fingerprint(model_dir: Path) -> dict:
    """What the check's answer depends on: the weights, the machine's kind, torch."""
    import torch

    return {"weights": weights_fingerprint(model_dir),
            "cpu": {"avx512_bf16": torch.cpu._is_avx512_bf16_supported(), "amx": torch.cpu._is_amx_tile_supported()},
            "torch": torch.__version__}


def _read_record(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _today() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
