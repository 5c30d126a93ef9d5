"""ONNX exports of every task that offers them: written, checked against the run's own model, and
usable by `tailor predict` / `tailor eval` exactly like the run."""

from __future__ import annotations

import json

import pytest
import yaml

import tailor
from task_fixtures import TASK_FIXTURES, train_tiny_run
from tailor.errors import ConfigError, ExportError
from tailor.tasks import TASKS, get_task

ONNX_TASKS = sorted(name for name in TASKS if "onnx" in get_task(name).export_formats)
EXPORT_FILES = {"model.onnx", "config.json", "tailor.yaml", "verification.json"}


def test_the_classic_tasks_offer_onnx_and_chat_does_not():
    assert ONNX_TASKS == ["image-classification", "question-answering", "relation-extraction",
                          "text-classification", "text-regression", "token-classification"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory, request):
    """One tiny trained run per task with an ONNX export (trained once for this module)."""
    return {name: train_tiny_run(name, tmp_path_factory.mktemp(name), request, max_steps=3) for name in ONNX_TASKS}


@pytest.mark.parametrize("name", ONNX_TASKS)
def test_fp32_export_agrees_on_every_held_out_row_and_serves_predict_and_eval(name, runs, tmp_path):
    fixture, run = TASK_FIXTURES[name], runs[name]
    out = tailor.export(run, tmp_path / "onnx", format="onnx")
    assert EXPORT_FILES <= {p.name for p in out.iterdir()}
    report = json.loads((out / "verification.json").read_text())
    assert report["passed"] and report["variant"] == "fp32" and report["rows"] == 16
    # fp32 rounding: 1e-7 of the output's size; the regression fixture answers numbers near 1,300
    tolerance = 1e-3 if name == "text-regression" else 1e-4
    assert report["rows_identical"] == 16 and report["max_abs_logit_difference"] < tolerance
    assert report["metric"]["export"] == pytest.approx(report["metric"]["model"], rel=1e-6)
    assert yaml.safe_load((out / "tailor.yaml").read_text())["task"] == name

    inputs = run.parent / fixture.predict_file
    from_run, from_export = tailor.predict(run, data=inputs), tailor.predict(out, data=inputs)
    assert [_answer(a) for a in from_export] == [_answer(a) for a in from_run]
    on_export, on_run = tailor.evaluate(out, inputs), tailor.evaluate(run, inputs)
    for metric in get_task(name).metrics:
        # A correlation of a 3-step model's nearly equal numbers moves with the last digits: 1e-2 there.
        close = pytest.approx(on_run[metric.name], abs=1e-2 if metric.name in ("pearson", "spearman") else 1e-6,
                              rel=1e-6)
        assert on_export[metric.name] == close, metric.name


def _answer(answer: dict):
    """What a user reads off an answer: the label, the entity spans, or the number to a hundredth (scores and
    numbers differ in the last digits)."""
    if "entities" in answer:
        return [(e["start"], e["end"], e["label"]) for e in answer["entities"]]
    if "value" in answer:  # a number: the same to 1e-6 of its size
        return round(answer["value"], 2)
    if "question" in answer:
        return answer["answer"], answer["start"]
    return answer["label"]


@pytest.mark.parametrize("variant", ["int8", "f16"])
def test_smaller_variants_report_their_agreement_and_shrink_the_file(variant, runs, tmp_path):
    run = runs["text-classification"]
    full = tailor.export(run, tmp_path / "fp32", format="onnx")
    small = tailor.export(run, tmp_path / variant, format="onnx", quantize=variant, min_agreement=0.0 if variant == "int8" else None)
    report = json.loads((small / "verification.json").read_text())
    assert report["variant"] == variant and report["rows"] == 16 and 0 <= report["agreement"] <= 1
    assert (small / "model.onnx").stat().st_size < 0.7 * (full / "model.onnx").stat().st_size
    assert len(tailor.predict(small, texts=["good film"])) == 1


def test_an_export_that_answers_differently_is_refused_and_kept_aside(runs, tmp_path, monkeypatch):
    from tailor.exports import onnx_folder as folder, verify

    def one_row_differs(*args, **kwargs):
        return verify.Agreement(rows=16, rows_identical=15, positions=16, positions_identical=15,
                                max_abs_logit_difference=0.5)

    monkeypatch.setattr(folder, "compare", one_row_differs)
    out = tmp_path / "onnx"
    with pytest.raises(ExportError) as error:
        tailor.export(runs["text-classification"], out, format="onnx")
    assert str(error.value).startswith(
        "the fp32 ONNX export does not answer like the run's model (identical answers 93.75% < the 100% required): "
        "identical answers on 15 of 16 held-out rows (93.75%), largest logit difference 0.5")
    assert f"nothing was written to {out}" in str(error.value)
    assert not out.exists()
    assert json.loads((tmp_path / "onnx.rejected" / "verification.json").read_text())["passed"] is False


def test_min_agreement_is_for_int8_only(runs, tmp_path):
    with pytest.raises(ConfigError, match="--min-agreement is for --quantize int8"):
        tailor.export(runs["text-classification"], tmp_path / "x", format="onnx", min_agreement=0.9)


def test_export_errors_are_one_line_on_the_command_line(runs, cli, tmp_path):
    code, _, err = cli("export", str(runs["text-classification"]), "--out", str(tmp_path / "x"), "--format", "tflite")
    assert code == 2 and "--format tflite: choose one of hf, onnx, gguf" in err
    code, _, err = cli("export", str(runs["text-classification"]), "--out", str(tmp_path / "x"), "--quantize", "int8")
    assert code == 2 and "--quantize is for --format onnx" in err
    code, _, err = cli("export", str(runs["text-classification"]), "--out", str(tmp_path / "x"), "--format", "onnx",
                       "--max-loss-increase", "0.5")
    assert code == 2 and "--max-loss-increase is for --format gguf" in err
    code, out, err = cli("export", str(runs["text-classification"]), "--out", str(tmp_path / "ok"), "--format", "onnx")
    assert code == 0 and "identical answers on 16 of 16 held-out rows (100.00%)" in err and "wrote" in out




def test_compress_measures_every_variant_beside_the_original(runs, tmp_path):
    from safetensors.torch import load_file

    run = runs["text-classification"]
    result = tailor.compress(run, tmp_path / "small", keep_layers=1, recover_epochs=1)
    names = [row["variant"] for row in result["variants"]]
    assert names == ["original (PyTorch fp32)", "ONNX fp32", "ONNX int8", "1 layers, no recovery",
                     "1 layers, recovered (1 epoch)", "1 layers, recovered, ONNX int8"]
    for row in result["variants"]:
        assert row["size_mb"] > 0 and row["rows_per_s"] > 0 and 0 < row["latency_ms"]["p50"] <= row["latency_ms"]["p95"]
        assert 0 <= row["metric"] <= 1 and row["gain"]
    pruned = load_file(tmp_path / "small" / "layers-1" / "model.safetensors")
    assert not any(".layer.1." in name for name in pruned) and any(".layer.0." in name for name in pruned)
    recovered = tmp_path / "small" / "layers-1-recovered"
    assert json.loads((recovered / "model" / "config.json").read_text())["num_hidden_layers"] == 1
    assert (tmp_path / "small" / "compression.md").read_text().count("\n| ") == 7  # header + 6 variants
    assert json.loads((tmp_path / "small" / "compression.json").read_text())["variants"][0]["gain"] == "-"
