"""`tailor data check` for text and conversation data: what a model will see, and what to fix first.
Tasks call these from their own `check` (HasDataCheck); `summary_lines` renders a report."""

from __future__ import annotations

import unicodedata
from collections import Counter

import numpy as np

from tailor.config import Config

IMBALANCE_RATIO = 3.0  # largest / smallest class above this is worth a warning
# From this skew on, the settings measured to help on 50:1 training tweets are recommended
# (benchmarks/results/skew_tweets.md).
SKEW_RATIO = 10.0
FEW_FOR_A_THRESHOLD = 30  # fewer evaluation examples of the rarer class make a tuned threshold noisy
FEW_SHOT_LARGEST = 64  # every class at most this many training examples: the few-shot strategy is recommended
FEW_SHOT_MEASURED = ("at 8 and 16 tweets per class it scored macro-F1 0.69 and 0.70 against 0.53 and 0.62 for the "
                     "default and 0.65 and 0.66 for TF-IDF (medians of 3 seeds; benchmarks/results/few_shot_tweets.md)")
MEASURED = ("on 50:1 training tweets they raised macro-F1 on balanced test data from 0.41 to 0.81 with a balanced "
            "evaluation split, and from 0.33 to 0.66 with one of 500 + 10 (medians of 3 seeds; "
            "benchmarks/results/skew_tweets*.md)")
UNKNOWN_TOKEN_WARNING = 0.05
LENGTH_SAMPLE = 20_000

# Scripts a tokenizer trained on English text usually cannot read, and models that can.
_BETTER_MODELS = {
    "CJK": "a Chinese or multilingual encoder such as bert-base-chinese or xlm-roberta-base",
    "HANGUL": "a Korean or multilingual encoder such as klue/bert-base or xlm-roberta-base",
    "HIRAGANA": "a Japanese or multilingual encoder such as xlm-roberta-base",
    "KATAKANA": "a Japanese or multilingual encoder such as xlm-roberta-base",
}
_MULTILINGUAL = "a multilingual encoder such as xlm-roberta-base or bert-base-multilingual-cased"


def text_report(data, tokenizer, cfg: Config, *, numbers: bool = False) -> dict:
    """Labelled texts: rows, label balance (`numbers`: the targets' spread), lengths, duplicates,
    overlap, unknown tokens."""
    train_texts, eval_texts = data.train.columns["text"], data.eval.columns["text"]
    splits = {"train": data.train, "eval": data.eval}
    report = {
        "rows": {"train": len(data.train), "eval": len(data.eval), "eval_source": data.eval_source},
        "format": data.info,
        "skipped": {"train": dict(data.train.skipped), "eval": dict(data.eval.skipped)},
        "labels": {split: {} if numbers else _distribution(examples.columns["label"])
                   for split, examples in splits.items()},
        **({"targets": {split: number_summary(examples.columns["label"]) for split, examples in splits.items()}}
           if numbers else {}),
        "lengths": _length_stats(tokenizer, train_texts, data.train.get("text_pair"), cfg.data.max_length),
        "duplicates": _duplicates(train_texts, data.train.columns["label"]),
        "train_eval_overlap": len(set(eval_texts) & set(train_texts)),
        "unknown_tokens": unknown_rate(tokenizer, train_texts),
    }
    report["warnings"] = _warnings(report, cfg, overlong="truncated")
    report["lines"] = summary_lines(report)
    return report


def conversation_report(data, tokenizer, cfg: Config) -> dict:
    """Chat data: the same checks, on conversations as the model's chat template renders them."""
    report = _conversation_report(data, tokenizer, cfg)
    report["warnings"] = _warnings(report, cfg, overlong="dropped" if cfg.options.overlong == "drop" else "truncated")
    report["lines"] = summary_lines(report)
    return report


def summary_lines(report: dict) -> list[str]:
    """The report as the lines `tailor data check` prints."""
    rows, lengths = report["rows"], report["lengths"]
    lines = list(report.get("format", []))
    lines.append(f"rows: train {rows['train']:,}  eval {rows['eval']:,}  ({rows['eval_source']})")
    for split in ("train", "eval"):
        if report["labels"][split]:
            total = sum(report["labels"][split].values())
            lines.append(f"labels ({split}): " + ", ".join(f"{k} {v} ({100 * v / total:.0f}%)"
                                                           for k, v in report["labels"][split].items()))
    for split, summary in report.get("targets", {}).items():
        lines.append(f"targets ({split}): mean {summary['mean']:.4g}  std {summary['std']:.4g}  min {summary['min']:.4g}"
                     f"  p5 {summary['p5']:.4g}  p50 {summary['p50']:.4g}  p95 {summary['p95']:.4g}  max "
                     f"{summary['max']:.4g}")
    lines.append(f"length in tokens: p50 {lengths['p50']}  p90 {lengths['p90']}  p95 {lengths['p95']}  p99 "
                 f"{lengths['p99']}  max {lengths['max']};  {lengths['over_max_length']} over data.max_length="
                 f"{lengths['max_length']}")
    if "trained_token_share" in report:
        lines.append(f"tokens the loss is computed on: {100 * report['trained_token_share']:.1f}%")
    skipped = {split: sum(v.values()) for split, v in report["skipped"].items()}
    lines.append(f"empty/invalid rows: train {skipped['train']}  eval {skipped['eval']}")
    duplicates = report["duplicates"]
    lines.append(f"duplicates in train: {duplicates['repeated_texts']} repeated texts, "
                 f"{duplicates['texts_with_conflicting_labels']} with conflicting labels")
    lines.append(f"train/eval overlap: {report['train_eval_overlap']} texts")
    lines.append(f"unknown-token rate: {100 * report['unknown_tokens']['rate']:.1f}%")
    return lines


def _conversation_report(data, tokenizer, cfg: Config) -> dict:
    """For chat data: the same checks, on conversations as the model's chat template renders them."""
    import json

    from tailor.data.chat_tokens import IGNORE, encode_example

    def keys(examples) -> list[str]:
        values = examples.columns.get("messages") or examples.columns["text"]
        return [v if isinstance(v, str) else json.dumps([(t.role, t.content) for t in v]) for v in values]

    train_values = data.train.columns.get("messages") or data.train.columns["text"]
    encoded = [encode_example(tokenizer, value, cfg.options.train_on) for value in train_values[:LENGTH_SAMPLE]]
    lengths = np.array([len(e.input_ids) for e in encoded])
    p50, p90, p95, p99 = np.percentile(lengths, [50, 90, 95, 99])
    trained = sum(sum(label != IGNORE for label in e.labels) for e in encoded)
    train_keys, eval_keys = keys(data.train), keys(data.eval)
    return {
        "rows": {"train": len(data.train), "eval": len(data.eval), "eval_source": data.eval_source},
        "format": data.info,
        "skipped": {"train": dict(data.train.skipped), "eval": dict(data.eval.skipped)},
        "labels": {"train": {}, "eval": {}},
        "lengths": {"sampled": int(len(lengths)), "p50": int(p50), "p90": int(p90), "p95": int(p95),
                    "p99": int(p99), "max": int(lengths.max()), "max_length": cfg.data.max_length,
                    "over_max_length": int((lengths > cfg.data.max_length).sum())},
        "trained_token_share": round(trained / max(int(lengths.sum()), 1), 4),
        "duplicates": {"repeated_texts": len(train_keys) - len(set(train_keys)), "texts_with_conflicting_labels": 0},
        "train_eval_overlap": len(set(train_keys) & set(eval_keys)),
        "unknown_tokens": unknown_rate(tokenizer, [t.content for turns in train_values[:500] if not isinstance(
            turns, str) for t in turns] or [v for v in train_values[:500] if isinstance(v, str)]),
    }


def text_pairs_report(data, tokenizer, cfg: Config, rendered_lengths=None) -> dict:
    """Text-to-text data (seq2seq): input and output lengths in tokens, what data.max_length would cut
    and what seq2seq.max_new_tokens could not write, repeated inputs, overlap, unknown tokens.
    `rendered_lengths(examples)`: the tokens of each example as the model reads input and output together
    (a chat model's conversation, whose output is what gets cut); None: each side on its own (an
    encoder-decoder)."""
    train = data.train.subset(range(min(len(data.train), LENGTH_SAMPLE)))
    sources, targets = train.columns["source"], train.columns["target"]
    source_lengths = _token_lengths(tokenizer, sources)
    target_lengths = _token_lengths(tokenizer, targets)
    together = rendered_lengths is not None
    whole = np.array(rendered_lengths(train)) if together else np.maximum(source_lengths, target_lengths)
    repeated: dict[str, set] = {}
    for source, target in zip(data.train.columns["source"], data.train.columns["target"]):
        repeated.setdefault(source, set()).add(target)
    report = {
        "rows": {"train": len(data.train), "eval": len(data.eval), "eval_source": data.eval_source},
        "format": data.info,
        "skipped": {"train": dict(data.train.skipped), "eval": dict(data.eval.skipped)},
        "source_lengths": _percentiles(source_lengths), "target_lengths": _percentiles(target_lengths),
        "over_max_length": int((whole > cfg.data.max_length).sum()), "max_length": cfg.data.max_length,
        "over_max_new_tokens": int((target_lengths > cfg.options.max_new_tokens).sum()),
        "repeated_inputs": len(data.train) - len(repeated),
        "inputs_with_several_outputs": sum(len(outputs) > 1 for outputs in repeated.values()),
        "train_eval_overlap": len(set(data.eval.columns["source"]) & set(repeated)),
        "unknown_tokens": unknown_rate(tokenizer, sources[:1000] + targets[:1000]),
    }
    report["warnings"] = _pair_warnings(report, cfg)
    report["lines"] = [*report["format"],
                       f"rows: train {len(data.train):,}  eval {len(data.eval):,}  ({data.eval_source})",
                       "input length in tokens: " + _spread(report["source_lengths"]),
                       "output length in tokens: " + _spread(report["target_lengths"]),
                       f"examples longer than data.max_length={cfg.data.max_length}: {report['over_max_length']} "
                       f"(their {'outputs' if together else 'inputs or outputs'} "
                       f"would be {'dropped' if cfg.options.overlong == 'drop' else 'truncated'})",
                       f"outputs longer than seq2seq.max_new_tokens={cfg.options.max_new_tokens}: "
                       f"{report['over_max_new_tokens']}",
                       f"repeated inputs in train: {report['repeated_inputs']} ({report['inputs_with_several_outputs']}"
                       " with different outputs)",
                       f"train/eval overlap: {report['train_eval_overlap']} inputs",
                       f"unknown-token rate: {100 * report['unknown_tokens']['rate']:.1f}%"]
    return report


def _token_lengths(tokenizer, texts: list[str]) -> np.ndarray:
    return np.array([len(ids) for ids in tokenizer(texts, add_special_tokens=False, verbose=False)["input_ids"]])


def _percentiles(lengths: np.ndarray) -> dict:
    p50, p95 = np.percentile(lengths, [50, 95])
    return {"p50": int(p50), "p95": int(p95), "max": int(lengths.max())}


def _spread(lengths: dict) -> str:
    return f"p50 {lengths['p50']}  p95 {lengths['p95']}  max {lengths['max']}"


def _pair_warnings(report: dict, cfg: Config) -> list[str]:
    warnings = []
    if report["over_max_length"]:
        done = "dropped" if cfg.options.overlong == "drop" else "truncated"
        warnings.append(f"{report['over_max_length']} training examples are longer than data.max_length="
                        f"{cfg.data.max_length} tokens and will be {done}; raise data.max_length")
    if report["over_max_new_tokens"]:
        warnings.append(f"{report['over_max_new_tokens']} training outputs are longer than seq2seq.max_new_tokens="
                        f"{cfg.options.max_new_tokens} (longest {report['target_lengths']['max']} tokens): generated "
                        "outputs stop there; raise seq2seq.max_new_tokens")
    warnings += skipped_warnings(report["skipped"], "rows")
    if report["train_eval_overlap"]:
        warnings.append(f"{report['train_eval_overlap']} evaluation inputs also appear in training: the evaluation "
                        "will look better than the model is; de-duplicate before splitting")
    warnings += unknown_token_warning(report["unknown_tokens"], cfg.model.name)
    return warnings


def number_summary(values: list[float]) -> dict:
    """What a column of numeric targets looks like: its centre, spread and range."""
    array = np.asarray(values, dtype=np.float64)
    p5, p50, p95 = np.percentile(array, [5, 50, 95])
    return {"mean": float(array.mean()), "std": float(array.std()), "min": float(array.min()), "p5": float(p5),
            "p50": float(p50), "p95": float(p95), "max": float(array.max())}


def _distribution(labels: list[str]) -> dict[str, int]:
    return dict(Counter(labels).most_common())


def _length_stats(tokenizer, texts, pairs, max_length: int) -> dict:
    sample = slice(0, LENGTH_SAMPLE)
    encoded = tokenizer(texts[sample], pairs[sample] if pairs else None, truncation=False, verbose=False)
    lengths = np.array([len(ids) for ids in encoded["input_ids"]])
    p50, p90, p95, p99 = np.percentile(lengths, [50, 90, 95, 99])
    over = int((lengths > max_length).sum())
    return {"sampled": int(len(lengths)), "p50": int(p50), "p90": int(p90), "p95": int(p95), "p99": int(p99),
            "max": int(lengths.max()), "max_length": max_length, "over_max_length": over}


def _duplicates(texts: list[str], labels: list[str]) -> dict:
    seen: dict[str, set] = {}
    for text, label in zip(texts, labels):
        seen.setdefault(text, set()).add(label)
    return {"repeated_texts": len(texts) - len(seen),
            "texts_with_conflicting_labels": sum(len(labels) > 1 for labels in seen.values())}


def unknown_rate(tokenizer, texts: list[str]) -> dict:
    unk = tokenizer.unk_token_id
    if unk is None:  # byte-level tokenizers never produce unknown tokens
        return {"rate": 0.0, "script": _dominant_script(texts)}
    ids = tokenizer(texts[:2000], add_special_tokens=False, truncation=False, verbose=False)["input_ids"]
    total = sum(len(row) for row in ids)
    unknown = sum(row.count(unk) for row in ids)
    return {"rate": round(unknown / max(total, 1), 4), "script": _dominant_script(texts)}


def _dominant_script(texts: list[str]) -> str:
    scripts = Counter()
    for text in texts[:500]:
        for char in text:
            if char.isalpha():
                name = unicodedata.name(char, "UNKNOWN").split(" ")[0]
                scripts[name] += 1
    return scripts.most_common(1)[0][0] if scripts else "UNKNOWN"


def _warnings(report: dict, cfg: Config, overlong: str) -> list[str]:
    warnings = imbalance_advice(report["labels"]["train"], report["labels"]["eval"], "examples")
    warnings += few_shot_advice(report["labels"]["train"], cfg)
    lengths = report["lengths"]
    if lengths["over_max_length"]:
        warnings.append(f"{lengths['over_max_length']} training examples are longer than data.max_length="
                        f"{lengths['max_length']} tokens and will be {overlong} (p99 is {lengths['p99']})")
    warnings += skipped_warnings(report["skipped"], "rows")
    if report["duplicates"]["texts_with_conflicting_labels"]:
        warnings.append(f"{report['duplicates']['texts_with_conflicting_labels']} texts appear with different "
                        "labels; check the labelling")
    if report["train_eval_overlap"]:
        warnings.append(f"{report['train_eval_overlap']} evaluation texts also appear in training: the evaluation "
                        "will look better than the model is; de-duplicate before splitting")
    warnings += unknown_token_warning(report["unknown_tokens"], cfg.model.name)
    warnings += _target_warnings(report.get("targets"))
    return warnings


def _target_warnings(targets: dict | None) -> list[str]:
    """Numeric targets a model cannot learn from (all alike), or evaluation targets outside what
    training shows (a regression head seldom answers beyond the range it was trained on)."""
    if not targets:
        return []
    train, evaluation = targets["train"], targets["eval"]
    if train["std"] == 0:
        return [f"every training target is {train['mean']:g}: there is nothing to learn; check data.label"]
    if evaluation["p5"] < train["min"] or evaluation["p95"] > train["max"]:  # over 5 % of them out of range
        return [f"evaluation targets run from {evaluation['min']:.4g} to {evaluation['max']:.4g}, well beyond the "
                f"training range {train['min']:.4g} to {train['max']:.4g}: the model will rarely answer outside "
                "the latter"]
    return []


def skipped_warnings(skipped: dict[str, dict[str, int]], unit: str) -> list[str]:
    """Per split, the invalid rows the check skipped, which training would stop at."""
    return [f"{split}: {sum(counts.values())} {unit} would stop training ("
            + ", ".join(f"{n} with {why}" for why, n in counts.items()) + "); fix them or set data.on_invalid=skip"
            for split, counts in skipped.items() if counts]


def imbalance_advice(train: dict[str, int], evaluation: dict[str, int], unit: str) -> list[str]:
    """A warning when the largest training class outnumbers the smallest, and from SKEW_RATIO on the
    settings measured to help: class weights and focal loss, and for two classes a threshold tuned
    on the evaluation split (which then needs enough examples of the rarer class)."""
    counts = {label: n for label, n in train.items() if n}
    if len(counts) < 2 or max(counts.values()) / min(counts.values()) <= IMBALANCE_RATIO:
        return []
    big, small = max(counts, key=counts.get), min(counts, key=counts.get)
    ratio = counts[big] / counts[small]
    advice = [f"imbalanced classes: '{big}' has {counts[big]:,} {unit}, '{small}' only {counts[small]:,} "
              f"({ratio:.0f}:1); judge the model by f1_macro rather than accuracy"]
    if ratio < SKEW_RATIO:
        return advice
    two = len(counts) == 2
    keys = "train.class_weights=auto train.loss=focal" + (" eval.threshold=tune" if two else "")
    advice.append(f"recommended for this skew: {keys}; {MEASURED}")
    if two and evaluation.get(small, 0) < FEW_FOR_A_THRESHOLD:
        advice.append(f"the evaluation data has {evaluation.get(small, 0)} '{small}' {unit}: a threshold tuned on so "
                      f"few is noisy; give data.eval a file with at least {FEW_FOR_A_THRESHOLD} of them (as many as "
                      f"of '{big}' is best), and data.test for an honest score")
    return advice


def few_shot_advice(train: dict[str, int], cfg: Config) -> list[str]:
    """When every class has only a handful of examples, the contrastive few-shot strategy (text classification)."""
    if not train or max(train.values()) > FEW_SHOT_LARGEST or cfg.train.strategy == "few-shot":
        return []
    return [f"few examples: the largest class has {max(train.values())} training examples; recommended: "
            f"train.strategy=few-shot; {FEW_SHOT_MEASURED}"]


def unknown_token_warning(unknown: dict, model_name: str) -> list[str]:
    """A model whose tokenizer cannot read the language of the data, and which model could."""
    if unknown["rate"] <= UNKNOWN_TOKEN_WARNING:
        return []
    better = _BETTER_MODELS.get(unknown["script"], _MULTILINGUAL)
    return [f"the tokenizer of model '{model_name}' turns {100 * unknown['rate']:.0f}% of the tokens into unknown "
            f"tokens (the text is mostly {unknown['script'].title()} script): this model cannot read the language; "
            f"set model: auto (tries the embedded models on a sample, trains the best), or choose {better}"]

