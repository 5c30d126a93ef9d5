"""What K folds say together: each metric's mean, spread and a 95 % interval, and the fold table.

The interval is Student's t over the K fold scores (mean +- t(0.975, K-1) x sd / sqrt(K)). The folds
share most of their training rows, so their scores are not independent and the interval is somewhat
too narrow (Bengio & Grandvalet 2004: no unbiased estimator of K-fold's variance exists); the report
says so rather than pretend otherwise."""

from __future__ import annotations

import html
import math

INTERVAL_NOTE = ("95 % interval: Student's t over the fold scores. The folds share most of their training rows, so "
                 "their scores are not independent and the true uncertainty is somewhat larger.")


def mean_interval(values: list[float]) -> dict:
    """mean, sample standard deviation and the t-based 95 % interval of the mean."""
    from scipy import stats

    n = len(values)
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    half = float(stats.t.ppf(0.975, n - 1)) * sd / math.sqrt(n) if n > 1 else 0.0
    return {"mean": round(mean, 6), "std": round(sd, 6), "ci95": [round(mean - half, 6), round(mean + half, 6)]}


def summarise_folds(fold_metrics: list[dict], names: list[str]) -> dict:
    """Per split ("eval": the held-out folds, "test": data.test) and per baseline, each metric's
    mean_interval over the folds, for the metrics every fold has."""
    summary = {}
    for split in _splits(fold_metrics[0]):
        scores = [_scores(m, split) for m in fold_metrics]
        common = [n for n in names if all(isinstance(s.get(n), (int, float)) for s in scores)]
        if common:
            summary[split] = {n: mean_interval([float(s[n]) for s in scores]) for n in common}
    return summary


def _splits(metrics: dict) -> list[str]:
    """eval, test and the baselines ("baseline", "classical_baseline", and their data.test scores)."""
    found = ["eval"] + (["test"] if "test" in metrics else [])
    for key, value in metrics.items():
        if key.endswith("baseline") and isinstance(value, dict):
            found += [key] + ([f"{key}/test"] if "test" in value else [])
    return found


def _scores(metrics: dict, split: str) -> dict:
    key, _, sub = split.partition("/")
    return metrics[key][sub] if sub else metrics[key]


def fold_rows(fold_metrics: list[dict], names: list[str]) -> list[dict]:
    """One row per fold: its number, rows trained on and held out, and the held-out scores."""
    return [{"fold": i, "train_examples": m["data"]["train_examples"], "eval_examples": m["data"]["eval_examples"],
             **{n: m["eval"][n] for n in names if n in m["eval"]},
             **({"test": {n: m["test"][n] for n in names if n in m["test"]}} if "test" in m else {})}
            for i, m in enumerate(fold_metrics, start=1)]


def split_label(split: str, metrics: dict) -> str:
    """How a summary split reads in a table."""
    key, _, sub = split.partition("/")
    name = {"eval": "fine-tuned, held-out folds", "test": "fine-tuned, on data.test"}.get(key)
    if name is None:  # a baseline: its method's name without the details in brackets
        method = metrics.get(key, {}).get("method", key).split(" (")[0]
        name = method + (", on data.test" if sub else ", held-out folds")
    return name


def folds_report(summary: dict) -> list[str]:
    """report.html sections: the summary beside the baselines, the fold table, a strip plot."""
    names = summary["metrics"]
    head = "".join(f"<th>{html.escape(n)}</th>" for n in names)
    rows = "".join(
        f"<tr><td>{html.escape(summary['labels'][split])}</td>" + "".join(
            _summary_cell(scores.get(n)) for n in names) + "</tr>"
        for split, scores in summary["summary"].items())
    folds = "".join(f"<tr><td>fold {r['fold']}</td><td>{r['train_examples']}</td><td>{r['eval_examples']}</td>" +
                    "".join(f"<td>{r[n]:.4f}</td>" if isinstance(r.get(n), float) else "<td>-</td>" for n in names) + "</tr>"
                    for r in summary["per_fold"])
    from tailor.evaluation.report import figure

    notes = "".join(f"<li>{html.escape(n)}</li>" for n in summary.get("notes", []))
    return [
        f"<h1>{html.escape(summary['name'])}: {summary['folds']}-fold cross-validation</h1>"
        f"<p>task <b>{html.escape(summary['task'])}</b> &middot; model <b>{html.escape(summary['model'])}</b> &middot; "
        f"{html.escape(summary['data'])}; each fold trained {html.escape(summary['trained'])}</p>",
        f"<h2>Mean over the folds</h2><table><tr><th>model</th>{head}</tr>{rows}</table>"
        f"<p><small>mean &plusmn; standard deviation (95 % interval). {html.escape(INTERVAL_NOTE)}</small></p>",
        f"<h2>Each fold</h2><table><tr><th>fold</th><th>trained on</th><th>held out</th>{head}</tr>{folds}</table>"
        "<p>Each fold's run folder (fold-1/ ...) holds its own model, metrics.json and report.</p>",
        figure("Held-out score of each fold", _strip_png(summary)),
        f"<h2>Data notes</h2><ul>{notes}</ul>" if notes else "",
    ]


def _summary_cell(stats: dict | None) -> str:
    if not stats:
        return "<td>-</td>"
    low, high = stats["ci95"]
    return f"<td>{stats['mean']:.4f} &plusmn; {stats['std']:.4f} <small>({low:.3f}-{high:.3f})</small></td>"


def _strip_png(summary: dict) -> str | None:
    from tailor.evaluation.report import plt, png

    names = [n for n in summary["metrics"] if any(n in r for r in summary["per_fold"])]
    if not names:
        return None
    fig, axis = plt.subplots(figsize=(1.8 + 1.6 * len(names), 3.4))
    for x, name in enumerate(names):
        values = [r[name] for r in summary["per_fold"] if name in r]
        axis.plot([x] * len(values), values, "o", color="#4477aa", alpha=0.8)
        stats = summary["summary"]["eval"].get(name)
        if stats:
            axis.errorbar([x + 0.15], [stats["mean"]], yerr=[[stats["mean"] - stats["ci95"][0]],
                                                              [stats["ci95"][1] - stats["mean"]]],
                          fmt="s", color="#ee6677", capsize=4, label="mean, 95 % interval" if x == 0 else None)
    axis.set_xticks(range(len(names)), names)
    axis.set_xlim(-0.5, len(names) - 0.5)
    axis.set_ylabel("held-out score")
    axis.legend(fontsize=8)
    return png(fig)
