"""The `tailor` command: parses arguments, calls tailor.api, prints. No logic of its own.

A TailorError (bad config, bad data, missing model ...) prints one line and exits with code 2;
`--debug` anywhere on the command line shows the traceback instead.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from tailor.errors import TailorError

PRECISION_HELP = ("fp32 (lossless, the default); bf16 (lossy; faster for classifiers on CPUs with bf16); int8 "
                  "(chat runs; lossy, about 5x faster decoding); or auto: the fastest lossy one that answered the "
                  "run's held-out inputs exactly as fp32, if it is faster (checked once)")

# Inputs that predict and explain take alike.
TextPairs = Annotated[Optional[list[str]], typer.Option("--text-pair", help="the second text of each --text, in "
                                                        "order, for a run trained with data.text_pair")]
Images = Annotated[Optional[list[Path]], typer.Option("--image", help="an image file (or a folder of them) for an "
                                                                      "image run (repeatable)")]
Head = Annotated[Optional[str], typer.Option("--head", help="multi-task runs: the head that answers (its name in "
                                                            "multi_task.tasks)")]

app = typer.Typer(help="Fine-tune a pretrained model on your own labelled data.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
data_app = typer.Typer(help="Inspect data before training.", no_args_is_help=True)
config_app = typer.Typer(help="About the config file.", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(config_app, name="config")


@app.callback()
def _root(debug: Annotated[bool, typer.Option("--debug", help="show tracebacks for errors")] = False):
    """tailor: fine-tune, evaluate and query models from one config file."""


@app.command()
def train(
    config: Annotated[Path, typer.Argument(help="YAML config file")],
    overrides: Annotated[Optional[list[str]], typer.Argument(help="dotted overrides, e.g. train.lr=3e-5")] = None,
    resume: Annotated[bool, typer.Option(help="continue from the latest complete checkpoint of the run")] = False,
    overwrite: Annotated[bool, typer.Option(help="replace an existing run folder")] = False,
    folds: Annotated[Optional[int], typer.Option(min=2, help="K-fold cross-validation: K runs (fold-1/ ...), each "
                                                             "holding out one stratified K-th of the training "
                                                             "file, and their mean, spread and 95% interval")]
           = None,
):
    """Fine-tune a model as CONFIG says; writes the run folder (model/, metrics.json, report.html)."""
    if folds:
        from tailor.api import cross_validate

        result = cross_validate(config, overrides or [], folds=folds, resume=resume, overwrite=overwrite)
        _print_folds_summary(result.dir, result.metrics)
        return
    from tailor.api import train as run_training

    result = run_training(config, overrides or [], resume=resume, overwrite=overwrite)
    _print_result_summary(result.dir, result.metrics)


@app.command()
def search(
    config: Annotated[Path, typer.Argument(help="YAML config file with a search: section")],
    overrides: Annotated[Optional[list[str]], typer.Argument(help="dotted overrides, e.g. train.epochs=1")] = None,
    trials: Annotated[Optional[int], typer.Option(min=1, help="finished trials the study should reach (default: "
                                                              "search.trials); the same command again continues it")]
            = None,
    overwrite: Annotated[bool, typer.Option(help="delete the output folder and the study, and start over")] = False,
):
    """Search settings with Optuna (search.space); each trial a run scored on the evaluation split."""
    from tailor.api import search as run_search

    result = run_search(config, overrides or [], trials=trials, overwrite=overwrite)
    _print_search_summary(result.dir, result.summary)


@app.command("eval")
def evaluate(
    run_dir: Annotated[Path, typer.Argument(help="run folder written by `tailor train`, or an ONNX export")],
    data: Annotated[Path, typer.Option("--data", help="labelled file with the training column names")],
    output: Annotated[Optional[Path], typer.Option(help="also write the metrics to this JSON file")] = None,
    batch_size: Annotated[Optional[int], typer.Option(min=1, help="rows per batch (default: the run's "
                                                               "eval.batch_size)")] = None,
    robustness: Annotated[bool, typer.Option("--robustness", help="text classification: also score copies of the "
                                                                  "file with characters mistyped, words deleted "
                                                                  "and words swapped for synonyms (labels kept), "
                                                                  "beside the clean scores")] = False,
    noise_rate: Annotated[float, typer.Option(min=0, max=1, help="--robustness: share of each text's words "
                                                                  "changed (at least one)")] = 0.1,
    head: Head = None,
):
    """Metrics of a trained run on another labelled file."""
    from tailor.api import evaluate as run_evaluation
    from tailor.io import atomic_write_json

    metrics = run_evaluation(run_dir, data, batch_size=batch_size, robustness=robustness, noise_rate=noise_rate,
                             head=head)
    if output:
        atomic_write_json(output, metrics)
    _print_metrics(metrics)
    if "robustness" in metrics:
        _print_robustness(metrics["robustness"])


@app.command()
def predict(
    run_dir: Annotated[Path, typer.Argument(help="run folder written by `tailor train`, or an ONNX export")],
    text: Annotated[Optional[list[str]], typer.Option("--text", help="an input text, or a prompt for a chat run (repeatable)")] = None,
    text_pair: TextPairs = None,
    image: Images = None,
    data: Annotated[Optional[Path], typer.Option("--data", help="file of inputs (same text or image column as "
                                                              "training; CoNLL for token classification; a folder "
                                                              "of images)")] = None,
    output: Annotated[Optional[Path], typer.Option(help="write answers to a .jsonl or .csv file")] = None,
    batch_size: Annotated[Optional[int], typer.Option(min=1, help="rows per batch; prompts decoded together for "
                                                               "a chat run (default: the run's eval.batch_size)")]
                = None,
    precision: Annotated[str, typer.Option(help=PRECISION_HELP)] = "fp32",
    max_new_tokens: Annotated[Optional[int], typer.Option(min=1, help="chat runs: longest answer (default: the "
                                                                     "run's chat.max_new_tokens)")] = None,
    temperature: Annotated[Optional[float], typer.Option(min=0, help="chat runs: 0 = greedy (the default)")] = None,
    top_p: Annotated[Optional[float], typer.Option(min=0, max=1, help="chat runs: nucleus sampling")] = None,
    uncertainty: Annotated[Optional[str], typer.Option(help="mc-dropout: classification runs answer each input "
                                                             "--samples times with the model's own dropout on, "
                                                             "giving mean probabilities and their spread")] = None,
    samples: Annotated[int, typer.Option(min=2, help="passes per input for --uncertainty")] = 30,
    question: Annotated[Optional[list[str]], typer.Option("--question", help="question answering runs: a "
                                                                            "question (repeatable)")] = None,
    context: Annotated[Optional[list[str]], typer.Option("--context", help="the text that may answer each "
                                                                          "--question (one, or one per question)")]
            = None,
    head: Head = None,
):
    """Answers of a trained run for new inputs: label and probabilities, entities, a number, an answer
    span, or a chat reply."""
    from tailor.api import predict as run_prediction
    from tailor.predictions import write_predictions

    inputs = _questions(question, context)
    if not text and not image and data is None and not inputs:
        raise TailorError("predict: give --text \"...\" or --image PATH (repeatable), or --data FILE")
    answers = run_prediction(run_dir, texts=text, text_pairs=text_pair, images=image, data=data,
                             batch_size=batch_size, precision=precision, max_new_tokens=max_new_tokens,
                             temperature=temperature, top_p=top_p, uncertainty=uncertainty, samples=samples,
                             inputs=inputs, head=head)
    if output:
        write_predictions(output, answers)
        typer.echo(f"wrote {len(answers)} predictions to {output}", err=True)
    else:
        for answer in answers:
            typer.echo(json.dumps(answer, ensure_ascii=False))


def _questions(questions: list[str] | None, contexts: list[str] | None) -> list[dict] | None:
    """--question / --context pairs as inputs: one context for every question, or one each."""
    if not questions and not contexts:
        return None
    if not questions or not contexts:
        raise TailorError("predict: give --question and --context together")
    if len(contexts) not in (1, len(questions)):
        raise TailorError(f"predict: {len(questions)} --question but {len(contexts)} --context; give one context "
                          "for all, or one per question in the same order")
    contexts = contexts * len(questions) if len(contexts) == 1 else contexts
    return [{"question": q, "context": c} for q, c in zip(questions, contexts)]


@app.command()
def explain(
    run_dir: Annotated[Path, typer.Argument(help="run folder of a text or image classification run")],
    text: Annotated[Optional[list[str]], typer.Option("--text", help="an input text (repeatable)")] = None,
    text_pair: TextPairs = None,
    image: Images = None,
    data: Annotated[Optional[Path], typer.Option("--data", help="file of inputs (same text or image column as "
                                                              "training; a folder of images)")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="the HTML page to write (default: "
                                                            "explanations.html in this folder)")] = None,
    steps: Annotated[int, typer.Option(min=1, help="integrated gradients' steps (more: a closer integral, "
                                                   "slower)")] = 50,
    limit: Annotated[int, typer.Option(min=1, help="explain at most this many inputs of --data")] = 20,
    head: Head = None,
):
    """Which words or pixels drove a run's answers (integrated gradients): an HTML page with the words
    highlighted or a heat map over each image; one JSON line per input with the words that weighed most."""
    from tailor.api import explain as run_explain
    from tailor.evaluation.explanations import brief

    page, explained = run_explain(run_dir, texts=text, text_pairs=text_pair, images=image, data=data, out=out,
                                  steps=steps, limit=limit, head=head)
    typer.echo(f"wrote {page}", err=True)
    for explanation in explained:
        typer.echo(json.dumps(brief(explanation), ensure_ascii=False))


@app.command()
def chat(
    target: Annotated[str, typer.Argument(help="run folder of a chat run, a model folder, or an embedded alias")],
    prompt: Annotated[Optional[str], typer.Option(help="ask once, print the answer and exit (for scripts)")] = None,
    system: Annotated[Optional[str], typer.Option(help="system prompt (default: the model's own)")] = None,
    temperature: Annotated[float, typer.Option(min=0, help="0 = greedy (deterministic)")] = 0.7,
    top_p: Annotated[float, typer.Option(min=0, max=1)] = 0.9,
    max_new_tokens: Annotated[int, typer.Option(min=1)] = 256,
    precision: Annotated[str, typer.Option(help=PRECISION_HELP)] = "fp32",
):
    """Chat with a tuned model in the terminal (answers stream; /reset, /exit)."""
    from tailor.interactive import ChatSession, load_chat_model, repl

    model, tokenizer = load_chat_model(target, precision)
    session = ChatSession(model, tokenizer, system=system, temperature=temperature, top_p=top_p,
                          max_new_tokens=max_new_tokens)
    if prompt is not None:
        session.ask(prompt, stream=sys.stdout)
        typer.echo("")
    else:
        repl(session, input, sys.stdout)


@app.command()
def serve(
    target: Annotated[Path, typer.Argument(help="run folder, or an hf / onnx export of one")],
    host: Annotated[str, typer.Option(help="address to listen on; anything but localhost needs an API key")]
          = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    api_key: Annotated[Optional[str], typer.Option(envvar="TAILOR_API_KEY", show_envvar=True,
                                                   help="clients send it as 'Authorization: Bearer KEY' (prefer "
                                                        "the environment variable: a flag shows in `ps`)")] = None,
    precision: Annotated[str, typer.Option(help=PRECISION_HELP)] = "fp32",
    max_batch: Annotated[int, typer.Option(min=1, help="requests answered together")] = 8,
    max_queue: Annotated[int, typer.Option(min=0, help="requests waiting beyond those; more are refused "
                                                       "with 429 and Retry-After")] = 16,
    max_tokens: Annotated[int, typer.Option(min=1, help="the most new tokens one chat request may ask for")]
                = 1024,
    max_body_kb: Annotated[int, typer.Option(min=1, help="the largest request body, in KiB")] = 1024,
    head: Head = None,
):
    """Serve a run over HTTP: OpenAI-compatible /v1/chat/completions for chat runs, /v1/predict for the others."""
    from tailor.serving.limits import Limits
    from tailor.verbs.serve import serve as run_server

    run_server(target, host=host, port=port, api_key=api_key, precision=precision,
               limits=Limits(max_batch=max_batch, max_queue=max_queue, max_tokens=max_tokens,
                             max_body_bytes=max_body_kb * 1024), head=head)


@app.command()
def export(
    run_dir: Annotated[Path, typer.Argument(help="run folder written by `tailor train`")],
    out: Annotated[Path, typer.Option("--out", help="folder to write the model to")],
    format: Annotated[str, typer.Option("--format", help="hf: the folder transformers loads; onnx: a graph for "
                                                         "onnxruntime (text, token and image classification); "
                                                         "gguf: llama.cpp / Ollama (chat)")] = "hf",
    quantize: Annotated[Optional[str], typer.Option(help="onnx: fp32 (default), f16 or int8; gguf: f16, q8_0 "
                                                         "(default) or q4_0")] = None,
    merge: Annotated[bool, typer.Option(help="hf: fold a LoRA adapter into the weights: a standalone model")] = False,
    data: Annotated[Optional[Path], typer.Option("--data", help="onnx: inputs to check the export on (default: the "
                                                              "run's evaluation data)")] = None,
    min_agreement: Annotated[Optional[float], typer.Option(min=0, max=1, help="the least share of held-out "
                                                                           "answers that must match the run's "
                                                                           "model (onnx int8: 0.95; gguf f16: 0.9, "
                                                                           "q8_0 and q4_0: reported, not required)")]
                   = None,
    max_loss_increase: Annotated[Optional[float], typer.Option(min=0, help="gguf: how much higher than the run's "
                                                                           "the held-out loss may be (default "
                                                                           "0.05 = 5%)")] = None,
    overwrite: Annotated[bool, typer.Option(help="replace --out if it exists")] = False,
    head: Head = None,
):
    """Write the run's model as a standalone folder, checked against the run's own model (onnx, gguf)."""
    from tailor.api import export as run_export

    folder = run_export(run_dir, out, format=format, quantize=quantize, merge=merge, data=data,
                        min_agreement=min_agreement, max_loss_increase=max_loss_increase, overwrite=overwrite,
                        head=head)
    typer.echo(f"wrote {folder}")


@app.command()
def compress(
    run_dir: Annotated[Path, typer.Argument(help="run folder of a text, token or image classification run")],
    out: Annotated[Path, typer.Option("--out", help="folder for the variants and compression.md")],
    keep_layers: Annotated[Optional[int], typer.Option(min=1, help="transformer layers the pruned variant keeps "
                                                                   "(default: half)")] = None,
    recover_epochs: Annotated[float, typer.Option(min=0, help="epochs of recovery fine-tuning after pruning "
                                                              "(0: none)")] = 1.0,
    data: Annotated[Optional[Path], typer.Option("--data", help="labelled file to score the variants on (default: "
                                                              "the run's evaluation data)")] = None,
    overwrite: Annotated[bool, typer.Option(help="replace --out if it exists")] = False,
):
    """Smaller and faster variants (int8, fewer layers) measured beside the original on this CPU."""
    from tailor.api import compress as run_compress

    run_compress(run_dir, out, keep_layers=keep_layers, recover_epochs=recover_epochs, data=data,
                 overwrite=overwrite)
    typer.echo(f"wrote {out / 'compression.md'}")


@data_app.command("check")
def data_check(
    config: Annotated[Path, typer.Argument(help="YAML config file")],
    overrides: Annotated[Optional[list[str]], typer.Argument(help="dotted overrides")] = None,
):
    """Validate the data of CONFIG without training and summarise it."""
    from tailor.api import check as run_check

    report = run_check(config, overrides or [])
    for line in report["lines"]:
        typer.echo(line)
    for warning in report["warnings"]:
        typer.echo(f"warning: {warning}")
    if not report["warnings"]:
        typer.echo("no problems found")


@app.command()
def tasks():
    """List the tasks tailor can fine-tune for."""
    from tailor.tasks import TASKS, get_task

    for name in TASKS:
        task = get_task(name)
        metrics = ", ".join(m.name for m in task.metrics)
        typer.echo(f"{name:24} {task.summary}\n{'':24} learns {task.targets} from {task.processor_kind} "
                   f"inputs; default model {task.default_model}; metrics {metrics}")


@app.command()
def models():
    """List the embedded models and where their weights come from."""
    from tailor.models.catalog import EMBEDDED

    for model in EMBEDDED.values():
        where = model.where()
        typer.echo(f"{model.alias:10} {model.summary}\n{'':10} tasks: {', '.join(model.tasks)}; license "
                   f"{model.license}; pip package {model.pip}\n{'':10} weights: {where}")
    typer.echo("Any local folder written by save_pretrained, or a hub id when online, works as model: too.")


@config_app.command("schema")
def config_schema(
    task: Annotated[Optional[str], typer.Option(help="one task's keys: the shared sections and its own")] = None,
):
    """Print the JSON schema of the config file (every key with its default and meaning)."""
    from tailor.config import config_schema as schema
    from tailor.tasks import TASKS

    if task is not None and task not in TASKS:
        raise TailorError(f"unknown task '{task}'; one of: {', '.join(TASKS)}")
    typer.echo(json.dumps(schema(task), indent=2))


def _print_result_summary(run_dir: Path, metrics: dict) -> None:
    """The task's headline metrics: the baselines, then the tuned model (and the test data's, if any)."""
    from tailor.tasks import get_task

    if not metrics:  # not the main process of a multi-process run: it reports nothing
        return
    from tailor.tasks.base import headline_names

    evaluation = metrics["eval"]
    names = headline_names(get_task(metrics["task"]), evaluation)
    rows = [(m.get("method", key), m) for key, m in metrics.items() if key.endswith("baseline") and isinstance(m, dict)]
    answering = metrics.get("answering", "fine-tuned " + metrics["model"])  # model: auto may keep a classical one
    rows.append((answering, evaluation))
    if "test" in metrics:
        rows.append(("classical, on data.test" if "answering" in metrics else "fine-tuned, on data.test", metrics["test"]))
    widths = [max(12, len(name) + 2) for name in names]  # a multi-task run's names are HEAD/metric
    typer.echo(f"\n{'':40}" + "".join(f"{name:>{w}}" for name, w in zip(names, widths)))
    for label, values in rows:
        typer.echo(f"{label[:40]:40}" + "".join(f"{value:{w}.4f}" if isinstance(value := values.get(name), float)
                                                else f"{'-':>{w}}" for name, w in zip(names, widths)))
        intervals = values.get("ci95") or {}
        if any(name in intervals for name in names):
            typer.echo(f"{'  95% interval (bootstrap)':40}" + "".join(
                f"{'%.3f-%.3f' % tuple(intervals[name]) if name in intervals else '':>{w}}"
                for name, w in zip(names, widths)))
    if "distillation" in metrics:
        from tailor.verbs.distill import comparison_lines

        typer.echo("\n" + "\n".join(comparison_lines(metrics["distillation"])))
    for warning in metrics.get("warnings", []):
        typer.echo(f"\nWARNING: {warning}")
    for sample in metrics.get("samples", [])[:3]:
        typer.echo(f"\n> {sample['prompt']}\n  before: {_one_line(sample['base'])}\n  after:  {_one_line(sample['tuned'])}")
    typer.echo(f"\nrun folder: {run_dir}  (report: {run_dir / 'report.html'})")


def _print_folds_summary(root: Path, summary: dict) -> None:
    """Each fold's held-out scores, then the mean +- sd and the 95% interval per model."""
    if not summary:
        return
    names = [n for n in summary["metrics"] if n in summary["summary"].get("eval", {})]
    typer.echo(f"\n{'':52}" + "".join(f"{name:>22}" for name in names))
    for row in summary["per_fold"]:
        typer.echo(f"{'fold %d (%d held out)' % (row['fold'], row['eval_examples']):52}" +
                   "".join(f"{row.get(name, float('nan')):22.4f}" for name in names))
    for split, scores in summary["summary"].items():
        typer.echo(f"{summary['labels'][split][:52]:52}" + "".join(
            f"{'%.4f +- %.4f' % (scores[n]['mean'], scores[n]['std']) if n in scores else '':>22}" for n in names))
        typer.echo(f"{'  95% interval (t, over folds)':52}" + "".join(
            f"{'%.3f-%.3f' % tuple(scores[n]['ci95']) if n in scores else '':>22}" for n in names))
    typer.echo(f"\nfolds: {root}/fold-1 ... fold-{summary['folds']}  (summary: {root / 'metrics.json'}, "
               f"report: {root / 'report.html'})")


def _print_robustness(result: dict) -> None:
    """Clean scores, then each changed copy's with its difference from them."""
    clean = result["clean"]
    typer.echo(f"\nrobustness: about {result['rate']:.0%} of each text's words changed (at least one); synonyms "
               f"from {result['synonyms']}")
    typer.echo(f"{'':10}" + "".join(f"{name:>22}" for name in clean) + f"{'texts changed':>15}")
    for key, scores in result.items():
        if isinstance(scores, dict):
            cells = [f"{scores[n]:.4f}" + ("" if key == "clean" else f" ({scores[n] - clean[n]:+.4f})") for n in clean]
            changed = f"{scores['changed']:.0%}" if "changed" in scores else ""
            typer.echo(f"{key:10}" + "".join(f"{cell:>22}" for cell in cells) + f"{changed:>15}")


def _print_search_summary(root: Path, summary: dict) -> None:
    """Every trial of the study (values, score, state), the verdict, and data.test's single score."""
    keys = list(summary["space"])
    typer.echo("\n" + f"{'trial':>8}" + "".join(f"{k[-18:]:>20}" for k in keys) + f"{summary['metric']:>12}  state")
    for row in summary["trials"]:
        values = "".join(f"{_short(row['params'].get(k)):>20}" for k in keys)
        value = f"{row['value']:12.4f}" if isinstance(row["value"], float) else f"{'-':>12}"
        typer.echo(f"{row['number']:>8}{values}{value}  {row['state'].lower()}" + (" (config as written)"
                                                                                   if row.get("default") else ""))
    typer.echo(f"\n{summary['verdict']}")
    test = summary.get("test")
    if test:
        typer.echo(test.get("note") or "best trial on data.test (scored once): " + ", ".join(
            f"{k} {v:.4f}" for k, v in test.items() if isinstance(v, float)))
    typer.echo(f"\nbest config: {root / 'best.yaml'}  (report: {root / 'report.html'})")


def _short(value) -> str:
    return "-" if value is None else f"{value:.3g}" if isinstance(value, float) else str(value)


def _one_line(text: str, width: int = 150) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _print_metrics(metrics: dict) -> None:
    shown = {k: v for k, v in metrics.items() if not isinstance(v, (dict, list))}
    typer.echo(json.dumps(shown, indent=2))
    scored = ("precision", "recall", "f1", "support")  # a per-class / per-type table, whatever the task names it
    for table in (v for v in metrics.values() if isinstance(v, dict)):
        for label, scores in table.items():
            if isinstance(scores, dict) and set(scored) <= set(scores):
                typer.echo(f"  {label:20} precision {scores['precision']:.4f}  recall {scores['recall']:.4f}  "
                           f"f1 {scores['f1']:.4f}  support {scores['support']}")


def main() -> None:
    debug = "--debug" in sys.argv[1:]
    # Accepted anywhere on the line (`tailor train cfg.yaml --debug`), not only before the verb.
    sys.argv = [sys.argv[0]] + (["--debug"] if debug else []) + [a for a in sys.argv[1:] if a != "--debug"]
    try:
        app(prog_name="tailor")
    except TailorError as exc:
        if debug:
            raise
        from tailor.distributed import is_main_process

        if is_main_process():  # every process of a multi-process run stops on the same bad input
            typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.echo("interrupted; `tailor train CONFIG --resume` continues from the last checkpoint (`tailor search "
                   "CONFIG` again continues a search)", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
