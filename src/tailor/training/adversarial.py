"""Adversarial training on the input embeddings (train.adversarial): FGM (Miyato et al. 2017) and PGD
(Madry et al. 2018, as in the usual "PGD for BERT" recipe).

Words are discrete, so the push is added to the output of the input word-embedding module: a delta
per row whose L2 norm over the row's tokens and hidden dimensions (pads excluded) is epsilon (FGM)
or at most epsilon (PGD). It enters through a forward hook and is itself the leaf that collects the
gradient, so it works with the embedding matrix frozen (train.freeze_embeddings, the default), when
the embedding output has no gradient of its own. One micro-step is: the clean pass (its gradients
accumulate as usual); for PGD, ascent passes that only move the delta (no weight gradient is
computed in them, so none needs discarding); then the adversarial pass, whose weight gradients add
to the clean ones. The optimizer steps once, on the sum.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, ContextManager

import torch

from tailor.errors import ConfigError, TailorError


@dataclass(frozen=True)
class Adversary:
    epsilon: float  # each row's delta has at most this L2 norm
    steps: int  # pushes before the adversarial pass (FGM: 1)
    alpha: float  # L2 norm of each push (FGM: epsilon)

    def step(self, embeddings: torch.nn.Module, mask: torch.Tensor | None,
             forward_backward: Callable[[bool], torch.Tensor], forward: Callable[[], torch.Tensor],
             no_sync: Callable[[], ContextManager]) -> tuple[torch.Tensor, torch.Tensor]:
        """(clean loss, adversarial loss) of one micro-step, both as the trainer's step returns them.
        `forward_backward(adversarial)` is the trainer's own step (loss scaling for accumulation, mixed
        precision, gradient sync); `forward()` its loss alone; `no_sync()` holds back the sync between
        processes, so that they exchange the sum of the clean and adversarial gradients once."""
        perturbation = Perturbation()
        with perturbation.added_to(embeddings):
            with no_sync():
                clean = forward_backward(False)
            gradient = perturbation.gradient()
            for _ in range(self.steps - 1):
                perturbation.delta = ascend(perturbation.delta.detach(), gradient, self.alpha, self.epsilon,
                                            mask).requires_grad_(True)
                with no_sync():
                    gradient, = torch.autograd.grad(forward(), perturbation.delta)
            perturbation.delta = ascend(perturbation.delta.detach(), gradient, self.alpha, self.epsilon, mask)
            adversarial = forward_backward(True)
        return clean, adversarial


def adversary_for(train, model) -> Adversary | None:
    """The Adversary train.adversarial asks for (None: off); a model without input word embeddings
    (get_input_embeddings) is refused before training starts."""
    if train.adversarial == "none":
        return None
    try:
        embeddings = model.get_input_embeddings()
    except (AttributeError, NotImplementedError):
        embeddings = None
    if not isinstance(embeddings, torch.nn.Module):
        raise ConfigError(f"train.adversarial={train.adversarial}: model {type(model).__name__} has no input word "
                          "embeddings (get_input_embeddings) to push; set train.adversarial=none")
    if train.adversarial == "fgm":
        return Adversary(train.adversarial_epsilon, 1, train.adversarial_epsilon)
    return Adversary(train.adversarial_epsilon, train.adversarial_steps, train.adversarial_alpha)


class Perturbation:
    """Adds `delta` to the embedding module's output while attached. The first pass finds no delta
    and makes a zero one that requires a gradient: the clean output is unchanged, and the backward
    pass leaves in delta.grad the gradient with respect to the embeddings, frozen or not."""

    def __init__(self):
        self.delta: torch.Tensor | None = None

    @contextmanager
    def added_to(self, embeddings: torch.nn.Module):
        handle = embeddings.register_forward_hook(self._add)
        try:
            yield self
        finally:
            handle.remove()

    def gradient(self) -> torch.Tensor:
        if self.delta is None or self.delta.grad is None:
            raise TailorError("train.adversarial: the model's input word embeddings (get_input_embeddings) took no "
                              "part in its loss, so there is nothing to push; set train.adversarial=none")
        return self.delta.grad

    def _add(self, module, args, output):
        if self.delta is None:
            # fp32 whatever the embeddings' dtype: a push of small norm must not round away in bf16
            self.delta = torch.zeros(output.shape, dtype=torch.float32, device=output.device, requires_grad=True)
        elif self.delta.shape != output.shape:
            raise TailorError(f"train.adversarial: the model embedded inputs of shape {tuple(output.shape)} after "
                              f"{tuple(self.delta.shape)} in one step; only one embedding call per pass is supported")
        return output + self.delta.to(output.dtype)


def ascend(delta: torch.Tensor, gradient: torch.Tensor, alpha: float, epsilon: float,
           mask: torch.Tensor | None) -> torch.Tensor:
    """`delta` pushed by `alpha` along each row's gradient (its direction: L2 norm 1 over the row's
    tokens and dimensions), then projected back onto the ball of radius `epsilon`; pads stay 0."""
    keep = _keep(mask, delta)
    # fp16's scaled loss may overflow: such a gradient gives no direction (the scaler skips the step anyway)
    gradient = torch.nan_to_num(gradient.float(), nan=0.0, posinf=0.0, neginf=0.0) * keep
    delta = (delta + alpha * gradient / row_norms(gradient).clamp_min(1e-12)) * keep
    return delta * (epsilon / row_norms(delta).clamp_min(1e-12)).clamp(max=1.0)


def row_norms(x: torch.Tensor) -> torch.Tensor:
    """The L2 norm of each row (over every dimension but the first), shaped to broadcast over x."""
    return x.flatten(1).norm(dim=1).view(-1, *[1] * (x.dim() - 1))


def _keep(mask: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
    """1 at real tokens, 0 at pads, shaped to broadcast over the embeddings (1 everywhere without a
    mask, e.g. packed rows)."""
    if mask is None or tuple(mask.shape) != tuple(like.shape[:2]):
        return torch.ones((), dtype=like.dtype, device=like.device)
    return mask.to(like.dtype).view(*mask.shape, *[1] * (like.dim() - 2))
