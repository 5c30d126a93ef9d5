"""Generating answers for several prompts at once, with rows joining and leaving between steps.

Decoding a small LLM on a CPU reads every weight once per step, whatever the number of rows: a step
for four prompts costs little more than a step for one. So prompts are decoded together (left
padded, each row with its own positions), a finished row leaves the batch at once, and a new one
can join between steps (its prompt is prefilled alone, then its cache is merged in): the server's
continuous batching and `tailor predict`'s batches of prompts are this one loop.

Each row has its own sampling settings (greedy, or temperature / top-p with its own seed), stop
tokens and stop strings, and hands out its text as it grows, so that a caller can stream it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Sampling:
    max_new_tokens: int = 256
    temperature: float = 0.0  # 0: greedy
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()  # strings that end the answer (not included in it)


@dataclass
class Reply:
    """One prompt's answer as it grows. `on_text(piece)` receives each new piece of text;
    `cancelled()` true ends the row at the next step (a client that went away)."""

    prompt_ids: list[int]
    sampling: Sampling = Sampling()
    on_text: Callable[[str], None] | None = None
    cancelled: Callable[[], bool] | None = None
    ids: list[int] = field(default_factory=list)
    text: str = ""  # the answer so far, stop strings cut off
    finish_reason: str | None = None  # "stop" | "length" | "cancelled"
    _sent: int = 0  # characters of `text` already handed to on_text
    _generator: torch.Generator | None = None

    @property
    def done(self) -> bool:
        return self.finish_reason is not None


class DecodeBatch:
    """The rows being decoded together. What is the same whatever runs the model lives here (stop
    tokens and strings, lengths, cancellation, handing out text); `TorchRows` or, for an int8
    graph, `ort_genai.Int8Rows` prefill the rows and choose their tokens."""

    def __init__(self, model, tokenizer, stop_ids: list[int]):
        from tailor.models.ort_genai import Int8Model, Int8Rows

        self.tokenizer, self.stop_ids = tokenizer, set(stop_ids)
        self.rows: list[Reply] = []
        self.backend = Int8Rows(model) if isinstance(model, Int8Model) else TorchRows(model, tokenizer)

    def __len__(self) -> int:
        return len(self.rows)

    def add(self, replies: list[Reply]) -> None:
        """Prefill the prompts of `replies` and take them into the batch (their first token chosen)."""
        if not replies:
            return
        joining_at = len(self.rows)
        self.rows += replies
        self._settle(self.backend.start(replies), joining_at)

    def step(self) -> None:
        """Feed every row its chosen token, choose the next one, and let finished rows go."""
        self._settle(self.backend.advance())

    def _settle(self, tokens: list[int], start: int = 0) -> None:
        """Record `tokens`, the chosen tokens of the rows from `start` on (the rows before it, already
        in the batch, recorded theirs in the last step); rows that stopped or were cancelled leave."""
        keep = list(range(start))
        for i, (reply, token) in enumerate(zip(self.rows[start:], tokens), start):
            if reply.cancelled is not None and reply.cancelled():
                reply.finish_reason = "cancelled"
            elif token in self.stop_ids:
                reply.finish_reason = "stop"
            else:
                reply.ids.append(token)
                self._update_text(reply)
                if not reply.done and len(reply.ids) >= reply.sampling.max_new_tokens:
                    reply.finish_reason = "length"
            if reply.done:
                _send(reply, final=True)
            else:
                keep.append(i)
        if len(keep) < len(self.rows):
            self.rows = [self.rows[i] for i in keep]
            self.backend.keep(keep)

    def _update_text(self, reply: Reply) -> None:
        text = self.tokenizer.decode(reply.ids, skip_special_tokens=True)
        if text.endswith("\ufffd"):  # a character split across tokens: wait for the rest of it
            return
        reply.text = text
        for stop in reply.sampling.stop:
            at = text.find(stop, max(0, reply._sent - len(stop)))
            if at >= 0:
                reply.text, reply.finish_reason = text[:at], "stop"
        _send(reply, final=False)


class TorchRows:
    """Rows decoded by a transformers model in one batch: their KV cache, attention mask and next
    positions. New rows are prefilled alone, then merged in (both caches left-padded to the longer).
    `start` returns the new rows' first tokens, `advance` every row's next one."""

    def __init__(self, model, tokenizer):
        self.model, self.tokenizer = model, tokenizer
        self.device = next(model.parameters()).device
        self.replies: list[Reply] = []
        self.cache = None
        self.mask = None  # [rows, cached length]: 1 where a row has a real token
        self.positions = None  # [rows]: the position of each row's next token
        self.next_tokens = None  # [rows, 1]: chosen but not yet fed to the model
        self._cache_arg = _cache_argument(model)

    def start(self, replies: list[Reply]) -> list[int]:
        cache, mask, positions, logits = self._prefill([r.prompt_ids for r in replies])
        for reply in replies:
            reply._generator = _generator(reply.sampling.seed)
        if self.replies:
            self._merge(cache, mask, positions)
        else:
            self.cache, self.mask, self.positions = cache, mask, positions
        self.replies += replies
        chosen = self._choose(replies, logits)
        self.next_tokens = torch.cat([t for t in (self.next_tokens, chosen) if t is not None])
        return chosen[:, 0].tolist()

    def advance(self) -> list[int]:
        self.mask = torch.cat([self.mask, torch.ones_like(self.mask[:, :1])], dim=1)
        with torch.inference_mode():
            logits = self.model(input_ids=self.next_tokens.to(self.device), attention_mask=self.mask.to(self.device),
                                position_ids=self.positions[:, None].to(self.device), use_cache=True,
                                **{self._cache_arg: self.cache}).logits[:, -1]
        self.positions = self.positions + 1
        self.next_tokens = self._choose(self.replies, logits)
        return self.next_tokens[:, 0].tolist()

    def keep(self, keep: list[int]) -> None:
        self.replies = [self.replies[i] for i in keep]
        if not keep:
            self.cache = self.mask = self.positions = self.next_tokens = None
            return
        index = torch.tensor(keep)
        self.cache.batch_select_indices(index.to(self.device))
        self.mask, self.positions, self.next_tokens = self.mask[index], self.positions[index], self.next_tokens[index]
        # columns that are padding for every row left are dropped from the cache
        first = int(self.mask.any(0).int().argmax())
        if first > 0:
            for layer in self.cache.layers:
                layer.keys, layer.values = layer.keys[:, :, first:], layer.values[:, :, first:]
            self.mask = self.mask[:, first:]

    def _prefill(self, prompts: list[list[int]]):
        width = max(len(p) for p in prompts)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts])
        mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        from transformers import DynamicCache

        cache = DynamicCache(config=self.model.config)
        with torch.inference_mode():
            logits = self.model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device),
                                position_ids=positions.to(self.device), use_cache=True, logits_to_keep=1,
                                **{self._cache_arg: cache}).logits[:, -1]
        return cache, mask, positions[:, -1] + 1, logits

    def _merge(self, cache, mask, positions) -> None:
        """Append the rows of another cache, both left-padded to the longer of the two."""
        width = max(self.mask.shape[1], mask.shape[1])
        for mine, theirs in zip(self.cache.layers, cache.layers):
            mine.keys = torch.cat([_left_pad(mine.keys, width, 2), _left_pad(theirs.keys, width, 2)])
            mine.values = torch.cat([_left_pad(mine.values, width, 2), _left_pad(theirs.values, width, 2)])
        self.mask = torch.cat([_left_pad(self.mask, width, 1), _left_pad(mask, width, 1)])
        self.positions = torch.cat([self.positions, positions])

    def _choose(self, rows: list[Reply], logits: torch.Tensor) -> torch.Tensor:
        """The next token of each row: the most likely one, or one drawn from its top-p nucleus."""
        logits = logits.float()
        chosen = logits.argmax(-1)
        for i, reply in enumerate(rows):
            if reply.sampling.temperature > 0:
                chosen[i] = _sample(logits[i], reply.sampling, reply._generator)
        return chosen[:, None].cpu()


def can_join(model) -> bool:
    """Rows can join a running batch when every cache layer is a plain growing one (no sliding window,
    no linear-attention state): true of Llama-like models, SmolLM2 included; and always with the int8
    graph, whose rows decode in generators of their own."""
    from transformers import DynamicCache
    from transformers.cache_utils import DynamicLayer

    from tailor.models.ort_genai import Int8Model

    if isinstance(model, Int8Model):
        return True
    cache = DynamicCache(config=model.config)
    return all(type(layer) is DynamicLayer for layer in cache.layers)


def generate_all(model, tokenizer, replies: list[Reply], stop_ids: list[int], max_rows: int = 8) -> list[Reply]:
    """Answer every reply's prompt, `max_rows` at a time, a new prompt joining as soon as a row finishes."""
    batch, waiting = DecodeBatch(model, tokenizer, stop_ids), list(replies)
    joins = can_join(model)
    while waiting or len(batch):
        if waiting and (not len(batch) or (joins and len(batch) < max_rows)):
            room = max_rows - len(batch)
            batch.add(waiting[:room])
            waiting = waiting[room:]
        if len(batch):
            batch.step()
    return replies


def _cache_argument(model) -> str:
    """What the model's forward calls its KV cache: `cache` from transformers 5.24, `past_key_values`
    before (still accepted, with a warning at every step)."""
    import inspect

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "cache" if "cache" in inspect.signature(base.forward).parameters else "past_key_values"


def _left_pad(tensor: torch.Tensor, width: int, dim: int) -> torch.Tensor:
    missing = width - tensor.shape[dim]
    if missing == 0:
        return tensor
    pad = [0, 0] * (tensor.dim() - dim - 1) + [missing, 0]
    return F.pad(tensor, pad)


def _generator(seed: int | None) -> torch.Generator:
    generator = torch.Generator()
    generator.manual_seed(seed if seed is not None else int(torch.randint(0, 2**62, ()).item()))
    return generator


def _sample(logits: torch.Tensor, sampling: Sampling, generator: torch.Generator) -> int:
    """A token drawn from the smallest set of most likely tokens whose probability reaches top_p."""
    probs = torch.softmax(logits / sampling.temperature, dim=-1)
    if sampling.top_p < 1.0:
        sorted_probs, order = probs.sort(descending=True)
        outside = sorted_probs.cumsum(-1) - sorted_probs > sampling.top_p  # the first token is always kept
        sorted_probs[outside] = 0.0
        probs = torch.zeros_like(probs).scatter_(0, order, sorted_probs)
    return int(torch.multinomial(probs.cpu(), 1, generator=generator))


def _send(reply: Reply, final: bool) -> None:
    """Hand out the text not sent yet, holding back what could still be the start of a stop string."""
    if reply.on_text is None:
        reply._sent = len(reply.text)
        return
    hold = 0 if final else max((len(s) - 1 for s in reply.sampling.stop), default=0)
    upto = max(reply._sent, len(reply.text) - hold)
    if upto > reply._sent:
        reply.on_text(reply.text[reply._sent:upto])
        reply._sent = upto
