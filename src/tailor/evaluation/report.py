"""report.html: one self-contained page (PNGs embedded) that opens offline, and the model card."""

from __future__ import annotations

import base64
import html
import io
import json
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display needed; must precede pyplot
import matplotlib.pyplot as plt  # noqa: E402

from tailor.io import atomic_write_text  # noqa: E402

def write_report(path: Path, metrics: dict, history: list[dict], task) -> None:
    """The shared sections (results beside the baselines, curves, notes, run details) and the
    task's own (HasReportSections: confusion matrix, per-class table, answers to prompts ...)."""
    from tailor.tasks.base import HasReportSections

    from tailor.tasks.base import headline_names

    names = headline_names(task, metrics["eval"])
    own = task.report_sections(metrics) if isinstance(task, HasReportSections) else []
    sections = [
        _header(metrics),
        _warnings(metrics),
        _auto_choice(metrics.get("auto")),
        _comparison_table(metrics, names),
        _distillation(metrics.get("distillation")),
        figure("Training curves", _curves_png(history, metrics.get("best_metric_name", names[0] if names else "loss"),
                                              perplexity=task.targets == "text")),
        *(f"<h2>{html.escape(title)}</h2>{body}" for title, body in own if body),
        _explained(metrics),
        _notes(metrics),
        f"<h2>Run details</h2><pre>{html.escape(json.dumps(metrics.get('train', {}), indent=2))}</pre>",
    ]
    atomic_write_text(path, page(f"tailor report: {metrics['name']}", sections))


def page(title: str, sections: list[str]) -> str:
    """One self-contained HTML page in the reports' style."""
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{_CSS}</style></head><body>{''.join(sections)}</body></html>")


def _header(metrics: dict) -> str:
    return (f"<h1>{html.escape(metrics['name'])}</h1><p>task <b>{html.escape(metrics['task'])}</b> &middot; "
            f"model <b>{html.escape(metrics['model'])}</b> &middot; evaluated on {html.escape(metrics['eval_data'])} "
            f"({metrics['eval'].get('examples', '?')} examples)</p>")


def _warnings(metrics: dict) -> str:
    """What would make a careful reader distrust the numbers below, first."""
    warnings = metrics.get("warnings") or []
    return "".join(f"<p class='warning'>&#9888; {html.escape(w)}</p>" for w in warnings)


def _distillation(comparison: dict | None) -> str:
    """Teacher, student alone and distilled student side by side (distill.teacher)."""
    if not comparison:
        return ""
    body = "".join(f"<tr><td>{html.escape(r['name'])}</td><td>{r['metric']:.4f}</td><td>{r['parameters']:,}</td>"
                   f"<td>{r['size_mb']:g}</td><td>{r['latency_ms']:g}</td><td>{r['rows_per_s']:g}</td></tr>"
                   for r in comparison["models"])
    return (f"<h2>Distillation</h2><p>Teacher {html.escape(comparison['teacher'])}; temperature "
            f"{comparison['temperature']:g}, alpha {comparison['alpha']:g}; scored on {comparison['data']}, "
            "latency of one input at a time on this machine's CPU (median).</p>"
            f"<table><tr><th>model</th><th>{html.escape(comparison['metric'])}</th><th>parameters</th><th>MB</th>"
            f"<th>ms / input</th><th>rows / s</th></tr>{body}</table>")


def _auto_choice(auto: dict | None) -> str:
    """model: auto: the models tried before training, the fine-tuned model against the classical one,
    and which of them answers."""
    if not auto:
        return ""
    tried = _auto_trials(auto.get("trials") or [])
    if "winner" not in auto:  # no classical model to compare with (tagging, QA)
        return f"<h2>Which model trained (model: auto)</h2>{tried}"
    rows = "".join(f"<tr><td>{html.escape(side['model'])}</td><td>{side['eval']:.4f}</td>"
                   f"<td>{side['test']:.4f}</td></tr>" if "test" in side else
                   f"<tr><td>{html.escape(side['model'])}</td><td>{side['eval']:.4f}</td><td>-</td></tr>"
                   for side in (auto["fine_tuned"], auto["classical"]))
    kept = (f" The fine-tuned model is kept in <code>{html.escape(auto['fine_tuned_run'])}/</code>, a run folder of "
            "its own." if "fine_tuned_run" in auto else "")
    return (f"<h2>Which model answers (model: auto)</h2><p><b>{html.escape(auto['winner'])}</b> answers: better by "
            f"{auto['by']:.4f} {html.escape(auto['metric'])} on the evaluation data.{kept}</p>"
            f"<table><tr><th>model</th><th>{html.escape(auto['metric'])} (eval)</th><th>(test)</th></tr>{rows}</table>"
            f"{tried}")


def _auto_trials(trials: list[dict]) -> str:
    """The trial of each embedded model (the default could not read the text)."""
    if not trials:
        return ""
    rows = "".join(f"<tr><td>{html.escape(t['model'])}</td><td>{html.escape(t['method'])}</td><td>{t['score']:.4f}</td>"
                   f"<td>{t['seconds']:.0f}</td><td>{t['full_training_s'] / 60:.1f}</td></tr>" for t in trials)
    return (f"<p>The task's default model cannot read this text, so each embedded model was tried first, trained as "
            f"configured on {trials[0]['examples']:,} training examples of up to {trials[0]['max_length']} tokens and "
            f"scored on at most as many evaluation examples; the best was trained in full. A trial ranks the models at "
            f"its size: one that learns from few examples can fall behind with many.</p><table><tr><th>model</th>"
            f"<th>method</th><th>{html.escape(trials[0]['metric'])} (trial)</th><th>trial seconds</th>"
            f"<th>all the data: minutes (estimated)</th></tr>{rows}</table>")


def figure(title: str, png: str | None) -> str:
    """An embedded PNG, under a heading when `title` is given."""
    if not png:
        return ""
    heading = f"<h2>{html.escape(title)}</h2>" if title else ""
    return f"{heading}<img alt='{html.escape(title or 'figure')}' src='data:image/png;base64,{png}'>"


def _comparison_table(metrics: dict, headline: list[str]) -> str:
    baselines = [(m.get("method", name), m) for name, m in metrics.items()
                 if name.endswith("baseline") and isinstance(m, dict)]
    answering = metrics.get("answering", "fine-tuned")  # model: auto may keep a classical model instead
    rows = [(f"{answering} (this run)", metrics["eval"]), *baselines]
    if "test" in metrics:
        rows += [(f"{answering}, on data.test", metrics["test"])]
        rows += [(f"{method}, on data.test", m["test"]) for method, m in baselines if "test" in m]
    names = [k for k in headline if k in metrics["eval"]]
    head = "".join(f"<th>{k}</th>" for k in names)
    body = "".join("<tr><td>{}</td>{}</tr>".format(html.escape(label), "".join(
        _score_cell(m, k) for k in names)) for label, m in rows)
    from tailor.evaluation.honesty import paired_counts

    paired = [f"{html.escape(method)}: {paired_counts(t, 'this baseline')} ({t.get('test', 'McNemar')} p = {t['p_value']:.3g}, on "
              f"{t['data']})" for method, m in baselines if (t := m.get("paired_test"))]
    tests = ("<p>Paired test on the same rows:</p><ul>" + "".join(f"<li>{p}</li>" for p in paired) + "</ul>"
             if paired else "")
    return f"<h2>Results</h2><table><tr><th>model</th>{head}</tr>{body}</table>{tests}"


def _score_cell(scores: dict, name: str) -> str:
    """A score, with its bootstrap 95 % interval where there is one."""
    value = scores.get(name)
    if not isinstance(value, float):
        return "<td>-</td>"
    interval = (scores.get("ci95") or {}).get(name)
    shown = f" <small>({interval[0]:.3f}-{interval[1]:.3f})</small>" if interval else ""
    return f"<td>{value:.4f}{shown}</td>"


def per_label_table(scores: dict | None, what: str = "label") -> str:
    """Precision, recall, F1 and support per class (or per entity type)."""
    if not scores:
        return ""
    body = "".join(f"<tr><td>{html.escape(label)}</td><td>{m['precision']:.4f}</td><td>{m['recall']:.4f}</td>"
                   f"<td>{m['f1']:.4f}</td><td>{m['support']}</td></tr>" for label, m in scores.items())
    return (f"<table><tr><th>{what}</th><th>precision</th><th>recall</th><th>f1</th>"
            f"<th>support</th></tr>{body}</table>")


def confusion_figure(confusion: dict | None, title: str) -> str:
    return figure(title, _confusion_png(confusion)) if confusion else ""


def class_sections(metrics: dict) -> list[tuple[str, str]]:
    """What a classifier's report shows beyond the shared sections: where it confuses which classes."""
    evaluation = metrics["eval"]
    return [("Confusion matrix (evaluation data)", confusion_figure(evaluation.get("confusion_matrix"), "")),
            ("Per class", per_label_table(evaluation.get("per_class"))),
            ("Calibration", calibration_section(metrics))]


def heads_section(metrics: dict, lower_is_better: set[str]) -> str:
    """Multi-task: each head's headline metrics beside those of its task trained alone on the same data
    (multi_task.compare_alone), on the evaluation data and on data.test where a head has one;
    `lower_is_better`: the names of the metrics that are."""
    alone = metrics.get("alone") or {}
    splits = [split for split in ("eval", "test") if split in metrics]
    header = "".join(f"<th>multi-task ({s})</th><th>alone ({s})</th><th>difference</th>" for s in splits)
    rows = []
    for key in [k for k in metrics["eval"] if "/" in k]:
        head, name = key.split("/", 1)
        cells = []
        for split in splits:
            ours = metrics[split].get(key)
            theirs = (alone.get(head, {}).get(split) or {}).get(name)
            both = isinstance(ours, float) and isinstance(theirs, float)
            better = both and (ours < theirs if name in lower_is_better else ours > theirs)
            cells += [_number_cell(ours), _number_cell(theirs),
                      f"<td>{'<b>' if better else ''}{ours - theirs:+.4f}{'</b>' if better else ''}</td>" if both
                      else "<td>-</td>"]
        direction = "lower is better" if name in lower_is_better else "higher is better"
        rows.append(f"<tr><td>{html.escape(head)}</td><td>{html.escape(name)} ({direction})</td>{''.join(cells)}</tr>")
    note = ("" if alone else "<p>Each head's task was not trained alone (multi_task.compare_alone: false).</p>")
    return (f"{note}<p>Same model, settings and data; bold: the multi-task head does better.</p><table><tr><th>head</th>"
            f"<th>metric</th>{header}</tr>{''.join(rows)}</table>")


def _number_cell(value) -> str:
    return f"<td>{value:.4f}</td>" if isinstance(value, float) else "<td>-</td>"


def regression_sections(metrics: dict) -> list[tuple[str, str]]:
    """What a regression report shows beyond the shared sections: predicted against true numbers
    (data.test's when there is one: the rows nothing was picked on)."""
    split = "test" if "scatter" in metrics.get("test", {}) else "eval"
    scatter = metrics[split].get("scatter")
    where = "data.test" if split == "test" else "the evaluation data"
    return [(f"Predicted against true, on {where}", figure("", _scatter_png(scatter)) if scatter else "")]


def _scatter_png(scatter: dict) -> str:
    """The binned (true, predicted) counts as a heat map, with the line a perfect model would sit on."""
    import numpy as np

    low, high = scatter["low"], scatter["high"]
    counts = np.ma.masked_equal(np.array(scatter["counts"]).T, 0)  # rows: predicted; empty bins blank
    fig, axis = plt.subplots(figsize=(5.2, 4.6))
    image = axis.imshow(counts, origin="lower", extent=(low, high, low, high), cmap="Blues", aspect="equal")
    axis.plot([low, high], [low, high], ":", color="#999999", label="predicted = true")
    axis.set_xlabel("true")
    axis.set_ylabel("predicted")
    axis.legend(loc="upper left", fontsize=8)
    fig.colorbar(image, ax=axis, label="rows")
    return png(fig)


def calibration_section(metrics: dict) -> str:
    """The reliability diagram (data.test's when there is one: the rows nothing was fitted on) and
    what eval.threshold / eval.calibrate changed."""
    split = "test" if "calibration" in metrics.get("test", {}) else "eval"
    scores = metrics[split]
    if "calibration" not in scores:
        return ""
    where = "data.test" if split == "test" else "the evaluation data"
    text = (f"<p>Expected calibration error on {where}: <b>{scores['ece']:.4f}</b> (the gap between how sure the "
            "model says it is and how often it is right, weighted by rows).</p>")
    from tailor.evaluation.calibration import decision_lines

    if metrics.get("decision"):
        text += "<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in decision_lines(metrics["decision"])) + "</ul>"
    return text + figure("", _reliability_png(scores["calibration"], where))


def _reliability_png(bins: list[dict], where: str) -> str | None:
    if not bins:
        return None
    fig, axis = plt.subplots(figsize=(4.6, 4.2))
    axis.plot([0, 1], [0, 1], ":", color="#999999", label="perfectly calibrated")
    axis.plot([b["confidence"] for b in bins], [b["accuracy"] for b in bins], "o-", color="#4477aa",
              label="this model")
    for b in bins:
        axis.annotate(str(b["rows"]), (b["confidence"], b["accuracy"]), fontsize=7, xytext=(3, -9),
                      textcoords="offset points")
    axis.set_xlabel("confidence (top class probability)")
    axis.set_ylabel("accuracy")
    axis.set_title(f"reliability on {where} (rows per bin)", fontsize=9)
    axis.set_xlim(0, 1)
    axis.set_ylim(0, 1.02)
    axis.legend(loc="upper left", fontsize=8)
    return png(fig)


def samples_table(samples: list[dict] | None) -> str:
    """Base vs tuned answers to prompts the training never saw: what people look at first."""
    if not samples:
        return ""
    cell = lambda text: f"<td class='text'>{html.escape(text or '')}</td>"  # noqa: E731
    with_reference = any(s.get("reference") for s in samples)  # a prompts-only file has none
    body = "".join("<tr>" + cell(s["prompt"] + (f"  [system: {s['system']}]" if s.get("system") else "")) +
                   (cell(s.get("reference")) if with_reference else "") + cell(s["base"]) + cell(s["tuned"]) +
                   "</tr>" for s in samples)
    head = "<th>prompt</th>" + ("<th>reference</th>" if with_reference else "") + "<th>base model</th><th>tuned model</th>"
    return f"<table><tr>{head}</tr>{body}</table>"


def _explained(metrics: dict) -> str:
    explained = metrics.get("explained")
    if not explained:
        return ""
    return ("<h2>Why the model answered so</h2><p>A few evaluation examples, wrong answers and right ones (the "
            "most confident of each first; eval.explain_examples sets how many).</p>" + explanations_html(explained))


def explanations_html(explained: list[dict]) -> str:
    """Explanations (evaluation/explanations.py) as HTML: words highlighted by their contribution, or a
    heat map over the image, under a legend; shared by report.html and `tailor explain`'s page."""
    if not explained:
        return ""
    return _legend(explained) + "".join(_explanation(item) for item in explained)


_TOWARDS, _AGAINST = (214, 39, 40), (31, 119, 180)  # red and blue, as the heat map's colours go


def _legend(explained: list[dict]) -> str:
    from tailor.evaluation.explanations import IMAGE_BASELINE, TEXT_BASELINE

    steps = ", ".join(sorted({str(item["steps"]) for item in explained}))
    kinds = sorted({"heatmap" in item for item in explained})
    baseline = "; ".join(f"images: {IMAGE_BASELINE}" if images else f"texts: {TEXT_BASELINE}" for images in kinds)
    return (f"<p class='legend'>{_swatch(_TOWARDS, 'red')} pushed the answer towards the predicted label, "
            f"{_swatch(_AGAINST, 'blue')} away from it; the stronger the colour, the larger the contribution to the "
            "logit of the predicted label (hover over a word for its value). Integrated gradients (Captum), "
            f"{steps} steps from a baseline input that says nothing ({html.escape(baseline, quote=False)}); the "
            "contributions to an answer add up to logit(input) - logit(baseline), up to the integral's error "
            "shown.</p>")


def _swatch(rgb: tuple, text: str, alpha: float = 0.7, title: str = "") -> str:
    hover = f" title='{title}'" if title else ""
    return f"<span class='w'{hover} style='background:rgba({rgb[0]},{rgb[1]},{rgb[2]},{alpha:.2f})'>{text}</span>"


def _explanation(item: dict) -> str:
    label = html.escape(str(item["label"]))
    verdict = ""
    if "true" in item:
        right = str(item["true"]) == str(item["label"])
        verdict = (f" &middot; true label <b>{html.escape(str(item['true']))}</b> "
                   f"<span class='{'right' if right else 'wrong'}'>{'right' if right else 'wrong'}</span>")
    if "heatmap" in item:
        source, total = f"<code>{html.escape(item['image'])}</code> &middot; ", sum(map(sum, item["heatmap"]))
        body = figure("", _heatmap_png(item))
    else:
        words = item["attributions"] + item.get("pair_attributions", [])
        peak = max((abs(score) for _, score in words), default=0.0) or 1.0
        source, total = "", sum(score for _, score in words)
        body = "".join(f"<p class='text'>{_highlighted(item[text], item[scores], peak)}</p>" for text, scores in
                       (("text", "attributions"), ("text_pair", "pair_attributions")) if text in item)
    return (f"<div class='explained'><p>{source}predicted <b>{label}</b> ({item['score']:.3f}){verdict}</p>{body}"
            f"<p><small>contributions to the logit of {label} add up to {total:+.4g} (integral's error "
            f"{item['delta']:.2g})</small></p></div>")


def _highlighted(text: str, words: list, peak: float) -> str:
    """The text as written, each word shaded by its score (its value on hover)."""
    parts, at = [], 0
    for word, score in words:
        start = text.find(word, at)
        if start < 0:  # cannot happen for words cut from this text; shown plain rather than dropped
            continue
        parts += [html.escape(text[at:start]), _swatch(_TOWARDS if score >= 0 else _AGAINST, html.escape(word),
                                                       0.8 * abs(score) / peak, f"{score:+.4g}")]
        at = start + len(word)
    return "".join(parts) + html.escape(text[at:])


def _heatmap_png(item: dict) -> str:
    """The model's view of the image, beside it in grey (so the colours of the heat map read as
    contributions, not as the image's) under the heat map: red towards the label, blue away, opaque
    where the contribution is large and clear where there is none."""
    import numpy as np
    from PIL import Image

    view = Image.open(io.BytesIO(base64.b64decode(item["view_jpeg"])))
    heat = np.asarray(item["heatmap"], dtype=float)
    peak = float(np.abs(heat).max()) or 1.0
    fig, (left, right) = plt.subplots(1, 2, figsize=(5.6, 3.0))
    left.imshow(view)
    right.imshow(view.convert("L"), cmap="gray", vmin=0, vmax=255)
    for axis in (left, right):
        axis.axis("off")
    width, height = view.size
    right.imshow(heat, cmap="bwr", vmin=-peak, vmax=peak, alpha=np.clip(0.85 * np.abs(heat) / peak, 0, 1),
                 extent=(-0.5, width - 0.5, height - 0.5, -0.5), interpolation="nearest")
    left.set_title("the model's view", fontsize=9)
    right.set_title(f"contributions to {item['label']}", fontsize=9)
    return png(fig)


def _notes(metrics: dict) -> str:
    notes = metrics.get("data", {}).get("notes") or []
    if not notes:
        return ""
    return "<h2>Data notes</h2><ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>"


def _curves_png(history: list[dict], metric: str, perplexity: bool = False) -> str | None:
    train = [(h["step"], h["loss"]) for h in history if "loss" in h and "step" in h]
    evals = [h for h in history if "eval_loss" in h]
    if not train and not evals:
        return None
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    if train:
        left.plot(*zip(*train), label="train loss", color="#4477aa")
    if evals:
        left.plot([h["step"] for h in evals], [h["eval_loss"] for h in evals], "o-", label="eval loss", color="#ee6677")
        if perplexity:  # the loss is on the left already; perplexity reads better for language models
            right.plot([h["step"] for h in evals], [math.exp(min(h["eval_loss"], 50)) for h in evals], "o-",
                       label="perplexity")
        for name, style in dict(((f"eval_{metric}", "o-"), ("eval_accuracy", "s--"))).items():
            points = [(h["step"], h[name]) for h in evals if name in h and metric != "loss"]
            if points:
                right.plot(*zip(*points), style, label=name.removeprefix("eval_"))
        right.set_xlabel("step")
        right.set_title("evaluation metric")
        if right.lines:
            right.legend()
        else:
            right.set_axis_off()  # scored after training only (e.g. answers that need every window)
    left.set_xlabel("step")
    left.set_title("loss")
    left.legend()
    return png(fig)


def _confusion_png(confusion: dict) -> str:
    labels, matrix = confusion["labels"], confusion["matrix"]
    size = min(1.0 + 0.6 * len(labels), 14)
    fig, axis = plt.subplots(figsize=(size + 1.5, size))
    image = axis.imshow(matrix, cmap="Blues")
    axis.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    axis.set_yticks(range(len(labels)), labels)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    peak = max((max(row) for row in matrix), default=0)
    if len(labels) <= 20:
        for i, row in enumerate(matrix):
            for j, count in enumerate(row):
                axis.text(j, i, str(count), ha="center", va="center",
                          color="white" if count > peak / 2 else "black")
    fig.colorbar(image, ax=axis)
    return png(fig)


def png(fig) -> str:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def model_card(metrics: dict, config_yaml: str, pipeline_input: str, model_type: str | None = None,
               usage: str | None = None) -> str:
    """README.md inside model/: what it is, what it was trained on, how well it does, how to load it
    (`usage`: the task's own snippet, where a transformers pipeline does not load the model)."""
    evaluation = metrics["eval"]
    baseline = metrics.get("baseline", {})
    shown = lambda value: f"{value:.4f}" if isinstance(value, float) else "-"  # noqa: E731  (undefined: None)
    scores = "\n".join(f"| {k} | {v:.4f} | {shown(baseline.get(k))} |"
                       for k, v in evaluation.items() if isinstance(v, float))
    data = metrics.get("data", {})
    adapter = metrics.get("train", {}).get("method") == "lora" and metrics["pipeline_tag"] == "text-generation"
    usage = usage or (LORA_USAGE if adapter else _usage(metrics["pipeline_tag"], pipeline_input))
    from tailor.models.catalog import OWN_ARCHITECTURES

    if model_type in OWN_ARCHITECTURES:
        usage = (f"import {OWN_ARCHITECTURES[model_type]}  # tailor's {model_type} joins transformers' Auto "
                 f"classes (no remote code)\n{usage}")
    return f"""---
library_name: {"peft" if adapter else "transformers"}
pipeline_tag: {metrics['pipeline_tag']}
tags: [tailor]
---
# {metrics['name']}

Fine-tuned with tailor for **{metrics['task']}** from `{metrics['model']}`.

## Data
- training: `{data.get('train_file')}` ({data.get('train_examples')} examples)
- evaluation: {metrics['eval_data']} ({evaluation.get('examples')} examples)
{"- labels: " + ", ".join(data["labels"]) if data.get("labels") else ""}

## Results (evaluation data)
| metric | this model | {baseline.get("method", "baseline")} |
|---|---|---|
{scores}

## Use
```python
{usage}
```

## Training config
```yaml
{config_yaml}```
"""


LORA_USAGE = ('# a LoRA adapter on its base model (`tailor export RUN --merge --out DIR` writes a standalone model)\n'
              'from peft import AutoPeftModelForCausalLM\nfrom transformers import AutoTokenizer\n'
              'model = AutoPeftModelForCausalLM.from_pretrained("path/to/this/folder")\n'
              'tokenizer = AutoTokenizer.from_pretrained("path/to/this/folder")')
def _usage(pipeline_tag: str, pipeline_input: str) -> str:
    return (f'from transformers import pipeline\nrun = pipeline("{pipeline_tag}", model="path/to/this/folder")\n'
            f"run({pipeline_input})")


_CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}
td:first-child,th:first-child{text-align:left}th{background:#f3f3f3}img{max-width:100%}
pre{background:#f7f7f7;padding:1em;overflow:auto}td.text{text-align:left;vertical-align:top;white-space:pre-wrap;
max-width:300px}p.warning{background:#fff3cd;border:1px solid #e0b000;padding:.6em 1em}
span.w{padding:1px 2px;border-radius:3px}div.explained{border-top:1px solid #ddd;padding:.3em 0}
p.text{font-size:1.1em;line-height:1.8;white-space:pre-wrap}span.right{color:#1a7f37;font-weight:bold}
span.wrong{color:#c62828;font-weight:bold}p.legend{background:#f7f7f7;padding:.6em 1em}"""
