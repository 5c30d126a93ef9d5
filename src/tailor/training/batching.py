"""Batches sized by a token budget: short texts many rows a step, long texts few.

On a CPU a step of 8 tweets is mostly per-step overhead (benchmarks/step_efficiency.py: 11% of the
bf16 matmul peak at 8 x 32 tokens, 24-25% at 64-128 x 32), while a fixed row count sized for the
longest texts wastes the matrix units on short ones. So each step gets as many rows as fit in
`tokens` (rows x the step's longest row), up to `max_rows` (a memory cap).

How the batches are drawn (fairseq's batch-by-size, with ties drawn anew each epoch):
- the rows are sorted by length, ties in an order drawn from seed + epoch, and cut greedily, so a
  batch holds rows of (nearly) one length: almost no padding, and no attention across examples;
- the cut depends only on the sorted lengths, so every epoch has the same number of steps (the
  schedule and resume need that), while which rows share a step changes between epochs;
- the batches are then taken in an order drawn from the same generator.
Under several processes every process draws the same plan and takes its contiguous share of each
global batch (rows are a multiple of the process count), so N processes at a budget of T tokens see
the same rows per step as one process at N x T: the rule the row-count sampler already follows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from transformers.trainer_pt_utils import BatchRebalanceSampler

if TYPE_CHECKING:
    from tailor.config import Config


def token_budget_batches(lengths: list[int], tokens: int, max_rows: int, processes: int = 1,
                         generator: torch.Generator | None = None) -> list[list[int]]:
    """Global batches (lists of row indices, longest first) of at most `tokens` x `processes` padded
    tokens and `max_rows` x `processes` rows; each holds a multiple of `processes` rows, except that
    a last batch with fewer rows than processes is topped up with repeats of its own rows (as
    torch's DistributedSampler does), so no row is dropped."""
    n = len(lengths)
    tie_order = torch.randperm(n, generator=generator).tolist() if generator is not None else list(range(n))
    ordered = sorted(tie_order, key=lambda i: -lengths[i])  # stable: equal lengths keep the drawn order
    batches, start = [], 0
    while start < n:
        longest = max(1, lengths[ordered[start]])
        fit = min(tokens // longest, max_rows)
        rows = max(1, fit) * processes
        batches.append(ordered[start:start + rows])
        start += rows
    tail = batches[-1] if batches else []
    if len(tail) % processes:
        # Only the last batch can fall short of a multiple: it gets that many of its rows again.
        tail.extend((tail * processes)[:processes - len(tail) % processes])
    return batches


class TokenBudgetBatchSampler(BatchRebalanceSampler):
    """This process's share of token-budget batches (see the module docstring). It subclasses the
    trainer's rank-aware batch sampler only so that `Trainer` passes it to the DataLoader as a
    batch sampler and does not shard it a second time; nothing of the parent's algorithm is used."""

    def __init__(self, lengths: list[int], tokens: int, max_rows: int, processes: int, rank: int, seed: int,
                 steps_per_epoch: int | None = None):
        self.lengths, self.tokens, self.max_rows = list(lengths), tokens, max_rows
        self.processes, self.rank, self.seed, self.epoch = processes, rank, seed, 0
        # The count is the same every epoch (see the module docstring): a plan's, or cut once here.
        self._count = steps_per_epoch if steps_per_epoch is not None else \
            len(token_budget_batches(self.lengths, tokens, max_rows, processes))

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self._count

    def global_batches(self) -> list[list[int]]:
        generator = torch.Generator().manual_seed(self.seed + int(self.epoch))
        batches = token_budget_batches(self.lengths, self.tokens, self.max_rows, self.processes, generator)
        order = torch.randperm(len(batches), generator=generator).tolist()
        return [batches[i] for i in order]

    def __iter__(self):
        for batch in self.global_batches():
            share = len(batch) // self.processes
            yield batch[self.rank * share:(self.rank + 1) * share]


@dataclass
class BatchPlan:
    """What token-budget batching makes of a training set: reported in the run's metrics, and the
    mean rows per step is what the default learning rate is scaled to."""
    tokens: int
    max_rows: int
    steps_per_epoch: int
    mean_rows: float
    min_rows: int
    max_rows_used: int
    padding: float  # share of the computed tokens that are padding

    @classmethod
    def of(cls, lengths: list[int], tokens: int, max_rows: int, processes: int = 1) -> "BatchPlan":
        batches = token_budget_batches(lengths, tokens, max_rows, processes)
        rows = [len(b) // processes for b in batches]
        computed = sum(len(b) * max(lengths[i] for i in b) for b in batches)
        real = sum(lengths[i] for b in batches for i in b)
        return cls(tokens=tokens, max_rows=max_rows, steps_per_epoch=len(batches),
                   mean_rows=sum(rows) / max(len(rows), 1), min_rows=min(rows, default=0),
                   max_rows_used=max(rows, default=0),
                   padding=round(1 - real / computed, 4) if computed else 0.0)


def scaled_lr(lr: float, reference_rows: int, mean_rows: float) -> float:
    """Adam's learning rate for a batch of `mean_rows` rows, from one tuned at `reference_rows`: the
    square-root rule (Malladi et al. 2022, "On the SDEs and scaling rules for adaptive gradient
    algorithms"; the linear rule is SGD's)."""
    return lr * math.sqrt(mean_rows / reference_rows)


@dataclass
class Batching:
    """How the training rows are batched, and the learning rate that goes with it."""
    lr: float
    rows: int  # train.batch_size: the rows of a fixed batch, or the cap on a token-budget batch's
    step_rows: float  # rows of an optimizer step over every process and accumulation step (a mean for plans)
    plan: BatchPlan | None = None  # token-budget batches; None: fixed batches of train.batch_size rows
    lr_rule: str = "train.lr"
    one_target_per_row: bool = False  # classification: the loss weighs rows, not steps (see _row_weight)

    def describe(self, grad_accum: int) -> str:
        from tailor.distributed import world_size

        processes = world_size()
        per = f" per process x {processes} processes" if processes > 1 else ""
        accumulation = f" x {grad_accum} accumulation" if grad_accum > 1 else ""
        if self.plan is None:
            return f"batches: {self.rows} rows{per}{accumulation}; lr {self.lr:.3g}"
        plan = self.plan
        return (f"batches: up to {plan.tokens} tokens{per}{accumulation} (rows of one length together, "
                f"{plan.min_rows}-{plan.max_rows_used} rows, mean {plan.mean_rows:.1f}; {plan.steps_per_epoch} "
                f"batches an epoch, {plan.padding:.1%} padding); lr {self.lr:.3g} = {self.lr_rule}")

    def summary(self) -> dict:
        """For the run's metrics: what was used and why."""
        if self.plan is None:
            return {"batches": "fixed rows", "rows": self.rows, "lr": self.lr,
                    "why": "train.batch_size is set (or the task batches by rows): fixed batches of that many rows"}
        plan = self.plan
        return {"batches": "token budget", "tokens": plan.tokens, "max_rows": plan.max_rows,
                "rows_per_step": {"mean": round(plan.mean_rows, 1), "min": plan.min_rows, "max": plan.max_rows_used},
                "steps_per_epoch": plan.steps_per_epoch, "padding": plan.padding, "lr": self.lr, "lr_rule": self.lr_rule,
                "why": "a CPU step of a few short rows is mostly overhead; rows of one length are batched up to "
                       f"{plan.tokens} tokens a step (benchmarks/step_efficiency.py)"}


def batching_for(cfg: "Config", lengths: list[int], one_target_per_row: bool = False) -> Batching:
    """Token-budget batches when train.batch_tokens is set, with the default learning rate scaled
    from the rows it was tuned at to the mean rows of an optimizer step (all processes)."""
    from tailor.distributed import world_size

    t = cfg.train
    processes = world_size()
    if not t.batch_tokens:
        return Batching(lr=t.lr, rows=t.batch_size, step_rows=t.batch_size * processes * t.grad_accum,
                        one_target_per_row=one_target_per_row)
    plan = BatchPlan.of(lengths, t.batch_tokens, t.batch_size, processes)
    # The rate is for the global batch (every process, every accumulation step): N processes at a
    # budget of T tokens then train as one process at N x T does.
    rows = plan.mean_rows * processes * t.grad_accum
    lr, rule = t.lr, "train.lr, not scaled (no train.lr_reference_rows)"
    if t.lr_reference_rows:
        lr = scaled_lr(t.lr, t.lr_reference_rows, rows)
        rule = f"{t.lr:g} (tuned at {t.lr_reference_rows} rows) x sqrt({rows:.1f} / {t.lr_reference_rows})"
    return Batching(lr=lr, rows=t.batch_size, step_rows=rows, plan=plan, lr_rule=rule,
                    one_target_per_row=one_target_per_row)
