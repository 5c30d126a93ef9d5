"""Token-budget batches: every row once an epoch, the budget kept, the same number of steps every
epoch, the same plan on every process, and the default learning rate scaled to the batches."""

from __future__ import annotations

import math
import random

import pytest
import torch

from tailor.config import load_config
from tailor.tasks import get_task, resolve_config
from tailor.training.batching import BatchPlan, TokenBudgetBatchSampler, scaled_lr, token_budget_batches


def _lengths(n: int = 500, seed: int = 0) -> list[int]:
    draw = random.Random(seed)
    return [draw.randint(3, 70) for _ in range(n)]


def test_every_row_once_and_the_budget_kept():
    lengths = _lengths()
    batches = token_budget_batches(lengths, tokens=512, max_rows=64, generator=torch.Generator().manual_seed(1))
    assert sorted(i for batch in batches for i in batch) == list(range(len(lengths)))
    for batch in batches:
        longest = max(lengths[i] for i in batch)
        assert len(batch) * longest <= 512 and len(batch) <= 64
    # Rows of one length go together: short batches hold many rows, long ones few.
    rows_by_longest = {max(lengths[i] for i in b): len(b) for b in batches}
    assert rows_by_longest[max(rows_by_longest)] == 512 // 70
    assert max(rows_by_longest.values()) > 4 * (512 // 70)


def test_a_row_longer_than_the_budget_is_a_batch_of_its_own():
    batches = token_budget_batches([10, 900, 12], tokens=100, max_rows=8)
    assert batches == [[1], [2, 0]]


def test_the_row_cap_bounds_short_rows():
    batches = token_budget_batches([2] * 100, tokens=4096, max_rows=16)
    assert [len(b) for b in batches] == [16] * 6 + [4]


def test_same_steps_every_epoch_but_other_rows_together():
    sampler = TokenBudgetBatchSampler(_lengths(), tokens=512, max_rows=64, processes=1, rank=0, seed=42)
    first = list(sampler)
    sampler.set_epoch(1)
    second = list(sampler)
    assert len(first) == len(second) == len(sampler)
    assert sorted(map(len, first)) == sorted(map(len, second))
    assert {tuple(sorted(b)) for b in first} != {tuple(sorted(b)) for b in second}
    sampler.set_epoch(0)
    assert list(sampler) == first  # a resumed run draws the epoch again exactly


def test_each_process_takes_its_share_of_the_same_global_batches():
    lengths = _lengths(301)  # odd: the last batch is topped up to a multiple of 2
    ranks = [TokenBudgetBatchSampler(lengths, tokens=512, max_rows=64, processes=2, rank=r, seed=7) for r in (0, 1)]
    shares = [list(r) for r in ranks]
    globals_ = ranks[0].global_batches()
    assert len(shares[0]) == len(shares[1]) == len(globals_)
    for batch, a, b in zip(globals_, *shares):
        assert a + b == batch and len(a) == len(b)
    seen = {i for share in shares for batch in share for i in batch}
    assert seen == set(range(301))


def test_two_processes_at_a_budget_draw_what_one_draws_at_twice_of_it():
    # Lengths that divide the budget: then floor(2T / L) = 2 floor(T / L) rows, the same batches.
    lengths = [random.Random(3).choice([8, 16, 32, 64]) for _ in range(400)]
    one = TokenBudgetBatchSampler(lengths, tokens=1024, max_rows=128, processes=1, rank=0, seed=7)
    two = TokenBudgetBatchSampler(lengths, tokens=512, max_rows=64, processes=2, rank=0, seed=7)
    assert one.global_batches() == two.global_batches()


def test_the_plan_reports_rows_and_padding():
    plan = BatchPlan.of([8] * 64 + [32] * 16, tokens=256, max_rows=64)
    assert (plan.steps_per_epoch, plan.min_rows, plan.max_rows_used, plan.padding) == (4, 8, 32, 0.0)
    assert plan.mean_rows == 20.0


def test_square_root_rule_for_adam():
    assert scaled_lr(5e-5, 8, 32) == pytest.approx(1e-4)
    assert scaled_lr(5e-5, 8, 8) == 5e-5


def _resolved(overrides: list[str]):
    base = {"task": "text-classification", "data": {"train": "x.csv"}}
    return resolve_config(load_config(None, overrides=overrides, base=base), get_task("text-classification"))


def test_text_classification_batches_by_tokens_unless_rows_are_asked_for():
    default = _resolved([])
    assert (default.train.batch_tokens, default.train.batch_size, default.train.lr_reference_rows) == (1024, 256, 8)
    rows = _resolved(["train.batch_size=32"])
    assert (rows.train.batch_tokens, rows.train.batch_size, rows.train.lr_reference_rows) == (None, 32, None)
    own_lr = _resolved(["train.lr=1e-4"])
    assert own_lr.train.batch_tokens == 1024 and own_lr.train.lr_reference_rows is None
    both = _resolved(["train.batch_tokens=1024", "train.batch_size=64"])
    assert (both.train.batch_tokens, both.train.batch_size) == (1024, 64)
    assert math.isclose(default.train.lr, 5e-5)


def test_the_default_learning_rate_follows_the_mean_rows_and_an_own_one_stays():
    from tailor.training.engine import batching_for

    lengths = [8] * 1280  # 1024 tokens / 8 = 128 rows a step
    default = batching_for(_resolved([]), lengths)
    assert default.plan.mean_rows == 128
    assert default.lr == pytest.approx(5e-5 * 4)  # sqrt(128 / 8)
    assert "sqrt(128.0 / 8)" in default.lr_rule
    own = batching_for(_resolved(["train.lr=1e-4"]), lengths)
    assert own.lr == 1e-4 and own.plan.mean_rows == 128
    rows = batching_for(_resolved(["train.batch_size=32"]), lengths)
    assert rows.plan is None and rows.lr == 5e-5 and rows.summary()["rows"] == 32
