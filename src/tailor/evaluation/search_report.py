"""What a search shows: every trial (values, score, state, time), the best beside the config as
written, data.test's single score, and Optuna's optimisation-history and parameter-importance plots."""

from __future__ import annotations

import html
import warnings


def trial_rows(study) -> list[dict]:
    """One plain row per trial of the study, from every process that joined it."""
    from tailor.training.search import DEFAULT_TRIAL

    rows = []
    for trial in study.get_trials(deepcopy=False):
        duration = trial.duration.total_seconds() if trial.duration else None
        rows.append({"number": trial.number, "state": trial.state.name, "value": trial.value,
                     "params": trial.params, "duration_s": round(duration, 1) if duration is not None else None,
                     "scores": trial.user_attrs.get("scores", {}), "run_dir": trial.user_attrs.get("run_dir"),
                     **({DEFAULT_TRIAL: True} if DEFAULT_TRIAL in trial.user_attrs else {}),
                     **({"pruned_at": max(trial.intermediate_values)} if trial.state.name == "PRUNED"
                        and trial.intermediate_values else {})})
    return rows


def search_report(summary: dict, study) -> list[str]:
    from tailor.evaluation.report import figure

    sections = [
        f"<h1>{html.escape(summary['name'])}: search</h1><p>task <b>{html.escape(summary['task'])}</b> &middot; "
        f"study <b>{html.escape(summary['study'])}</b> in {html.escape(summary['storage'])} &middot; sampler "
        f"{summary['sampler']}, pruner {summary['pruner']} &middot; {summary['direction']} <b>{summary['metric']}"
        "</b> on the evaluation split</p>",
        f"<p><b>{html.escape(summary['verdict'])}</b></p>",
        _test_line(summary.get("test")),
        _trials_table(summary),
        figure("Optimisation history", _optuna_png(study, "plot_optimization_history")),
        figure("Parameter importances (fANOVA)", _optuna_png(study, "plot_param_importances")),
    ]
    return [s for s in sections if s]


def _test_line(test: dict | None) -> str:
    if not test:
        return ""
    if "note" in test:
        return f"<p>{html.escape(test['note'])}</p>"
    scores = ", ".join(f"{k} {v:.4f}" for k, v in test.items() if isinstance(v, float))
    return (f"<p>The best trial's model on data.test ({html.escape(test['data'])}), scored once after the search: "
            f"{scores}. No trial saw these rows.</p>")


def _trials_table(summary: dict) -> str:
    keys = list(summary["space"])
    best = summary.get("best", {}).get("number")
    head = "".join(f"<th>{html.escape(k)}</th>" for k in keys)
    body = ""
    for row in summary["trials"]:
        mark = " (best)" if row["number"] == best else ""
        mark += " (config as written)" if row.get("default") else ""
        value = f"{row['value']:.4f}" if isinstance(row["value"], float) else "-"
        params = "".join(f"<td>{_shown(row['params'].get(k))}</td>" for k in keys)
        state = row["state"].lower() + (f" at evaluation {row['pruned_at']}" if "pruned_at" in row else "")
        seconds = row["duration_s"] if row["duration_s"] is not None else "-"
        body += (f"<tr><td>{row['number']}{html.escape(mark)}</td>{params}<td>{value}</td><td>{state}</td>"
                 f"<td>{seconds}</td></tr>")
    return (f"<h2>Trials</h2><table><tr><th>trial</th>{head}<th>{html.escape(summary['metric'])}</th><th>state</th>"
            f"<th>seconds</th></tr>{body}</table><p>Values a trial does not show kept the config's own.</p>")


def _shown(value) -> str:
    if value is None:
        return "-"
    return f"{value:.3g}" if isinstance(value, float) else html.escape(str(value))


def _optuna_png(study, plot: str) -> str | None:
    """One of optuna.visualization.matplotlib's plots, or None where the study cannot make it yet
    (importances need two finished trials that differ)."""
    import optuna.visualization.matplotlib as optuna_plots

    from tailor.evaluation.report import plt, png

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "experimental" notices
            axes = getattr(optuna_plots, plot)(study)
    except (RuntimeError, ValueError, ZeroDivisionError):
        plt.close("all")
        return None
    return png(axes.figure)
