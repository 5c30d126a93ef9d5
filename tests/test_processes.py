"""Several processes: `torchrun --nproc_per_node 2 -m tailor train` on the CPU (gloo) at batch B per
process ends where one process at batch 2B does, for every registered task.

Tolerance: weights within 1e-5 and metrics within 1e-4 (the sum of two processes' gradients is
added in another order than one process's, so float32 rounding differs in the last bits). The
optimizer is plain SGD without clipping, so the weights after each step move by exactly lr x the
gradient: equal weights after several steps mean equal gradients at every step (AdamW's first
step would hide a gradient off by a constant factor, such as the 1/N of a loss not rescaled for
the number of processes).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

import tailor
from task_fixtures import TASK_FIXTURES, fast_config, weights, weights_changed
from tailor.tasks import TASKS

TORCHRUN = Path(sys.executable).with_name("torchrun")


def _config(folder: Path, name: str, model: Path, data: dict, extra: dict, batch: int, **train) -> Path:
    config = {"task": name, **fast_config(model, data, extra, batch_size=batch, optimizer="sgd", lr=0.5,
                                         max_grad_norm=1e6, max_steps=4, weight_decay=0.0, **train),
              "eval": {"batch_size": 8, "strategy": "steps", "steps": 2, "bootstrap": 0},
              "output": {"dir": str(folder / f"run-{batch}")}}
    path = folder / f"b{batch}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


# Token-budget batches with a budget no row reaches: the row cap sets every batch (8 rows in one
# process, 4 + 4 in two), so the sampler that shares them out is what is compared.
TOKEN_BUDGET_CASES = [("text-classification", {"batch_tokens": 10_000}),
                      ("token-classification", {"batch_tokens": 10_000}),
                      ("chat", {"batch_tokens": 10_000})]  # chat's default batching since issue 17


# seq2seq's other model family: an encoder-decoder's loss is summed over the decoder's tokens and
# divided by the batch's token count, which two processes must count together.
OTHER_MODEL_CASES = [("seq2seq", "tiny_t5")]


@pytest.mark.skipif(not TORCHRUN.exists(), reason="torchrun is installed with torch")
@pytest.mark.parametrize("name,train,model_fixture",
                         [(name, {}, None) for name in sorted(TASKS)] + [(n, t, None) for n, t in TOKEN_BUDGET_CASES]
                         + [(name, {}, model) for name, model in OTHER_MODEL_CASES],
                         ids=sorted(TASKS) + [f"{name}-token-budget" for name, _ in TOKEN_BUDGET_CASES]
                         + [f"{name}-{model}" for name, model in OTHER_MODEL_CASES])
def test_two_processes_match_one_at_twice_the_batch(name, train, model_fixture, tmp_path, request, monkeypatch):
    fixture = TASK_FIXTURES[name]
    model = request.getfixturevalue(model_fixture or fixture.processes_model or fixture.model)
    monkeypatch.chdir(tmp_path)
    data = fixture.write(tmp_path)
    settings = {**fixture.config, **fixture.processes_config}
    one = tailor.train(_config(tmp_path, name, model, data, settings, batch=8,
                               **{k: v * 2 for k, v in train.items()}))

    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    launched = subprocess.run([str(TORCHRUN), "--standalone", "--nproc_per_node", "2", "-m", "tailor", "train",
                               str(_config(tmp_path, name, model, data, settings, batch=4, **train))],
                              capture_output=True, text=True, env=env, timeout=300)
    assert launched.returncode == 0, launched.stderr[-3000:]
    two_dir = tmp_path / "run-4"
    two = json.loads((two_dir / "metrics.json").read_text())

    assert _files(two_dir) == _files(one.dir)
    assert launched.stdout.count("run folder:") == 1  # the summary prints once, from the main process
    assert two["train"]["processes"] == 2 and two["train"]["global_batch"] == one.metrics["train"]["global_batch"]
    assert two["train"]["global_batch"] == 8 or train  # token budgets: a mean, the last batch shorter
    assert two["train"]["steps"] == one.metrics["train"]["steps"] == 4
    for key, value in one.metrics["eval"].items():
        if isinstance(value, float):
            # rel: numbers in the thousands; a correlation of answers that four steps left almost constant
            # (multi-task's regression head) turns the last bits of each answer into its third decimal
            close = 1e-3 if key.endswith(("pearson", "spearman")) else 1e-4
            assert two["eval"][key] == pytest.approx(value, abs=close, rel=1e-6), key
    assert weights_changed(model, one.dir / "model")
    a, b = weights(one.dir / "model"), weights(two_dir / "model")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.allclose(a[key], b[key], atol=1e-5), f"{key}: max diff {(a[key] - b[key]).abs().max():.2e}"


def _files(run: Path) -> set[str]:
    """Everything in the run folder, checkpoints aside (their step numbers are the same, their RNG
    files one per process)."""
    return {str(p.relative_to(run)) for p in run.rglob("*") if "checkpoints" not in p.relative_to(run).parts}
