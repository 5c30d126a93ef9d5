"""An export checked against the run's own model: the same held-out batches through both, compared
batch by batch (counters only, so memory stays flat however many rows are checked).

A row agrees when the export picks the same class at every position the task reads: the row itself
for a classifier of one label per input, every labelled sub-token (else every real token) for a
tagger; a regression model's number agrees when it is within 1 % (of itself, or of 1).
The largest absolute logit difference over those positions says how close the numbers are.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from tailor.training.inference import device_batches


@dataclass
class Agreement:
    rows: int = 0
    rows_identical: int = 0
    positions: int = 0
    positions_identical: int = 0
    max_abs_logit_difference: float = 0.0

    @property
    def share(self) -> float:
        return self.rows_identical / max(self.rows, 1)

    def as_dict(self) -> dict:
        return {**asdict(self), "agreement": round(self.share, 6),
                "max_abs_logit_difference": float(f"{self.max_abs_logit_difference:.3g}")}


def compare(reference, candidate, encoded, collate, batch_size: int, *, spans: bool = False) -> Agreement:
    """Both models on each batch in turn (`spans`: logits are start and end scores per token, and a row
    agrees when both pick the same first and last token). One pass of batches: two interleaved batch
    generators would each hold torch's inference mode open and restore it in the wrong order."""
    from tailor.exports.onnx import model_inputs

    result = Agreement()
    for _, batch in device_batches(reference, encoded, collate, batch_size):
        inputs = model_inputs(batch)
        expected, got = reference(**inputs).logits.float().cpu(), candidate(**inputs).logits.float().cpu()
        if spans:  # rows x (start, end) x tokens, pads out: a row agrees when both pick the same tokens
            pads = ~batch["attention_mask"].bool().cpu()[..., None]
            expected, got = (x.masked_fill(pads, -1e9).transpose(1, 2) for x in (expected, got))
            add_batch(result, expected, got, torch.ones(expected.shape[:2], dtype=torch.bool))
            continue
        add_batch(result, expected, got, _read_positions(batch) if expected.dim() == 3 else None)
    return result


# A model that answers a number (one output) agrees when the export's number is this close to the
# run's, relative to the size of the number (and never stricter than this share of 1).
NUMBER_TOLERANCE = 0.01


def add_batch(result: Agreement, expected: torch.Tensor, got: torch.Tensor, positions: torch.Tensor | None) -> None:
    """Count one batch; `positions` (rows x length, bool) marks what a tagger reads, None for a
    classifier's one answer per row (or a regression model's one number)."""
    if expected.shape[-1] == 1:
        same = torch.isclose(got[..., 0], expected[..., 0], rtol=NUMBER_TOLERANCE, atol=NUMBER_TOLERANCE)
    else:
        same = expected.argmax(-1) == got.argmax(-1)
    difference = (expected - got).abs().amax(-1)
    if positions is None:
        row_same, counted = same, torch.ones_like(same)
    else:
        row_same = (same | ~positions).all(-1)
        counted, difference = positions, difference.masked_fill(~positions, 0.0)
    result.rows += len(row_same)
    result.rows_identical += int(row_same.sum())
    result.positions += int(counted.sum())
    result.positions_identical += int((same & counted).sum())
    result.max_abs_logit_difference = max(result.max_abs_logit_difference, float(difference.max()))


def _read_positions(batch: dict) -> torch.Tensor:
    """What a tagger reads: its labelled sub-tokens when the batch has labels, else every real token."""
    labels = batch.get("labels")
    if labels is not None and labels.dim() == 2:
        return (labels != -100).cpu()
    return batch["attention_mask"].bool().cpu()
