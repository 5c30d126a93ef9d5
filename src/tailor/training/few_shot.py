"""train.strategy=few-shot: SetFit's recipe (Tunstall et al. 2022) for a handful of examples per class,
on a plain transformers classifier (models/mean_pooled.py) that predict, export and serve use as any other.

1. Contrastive stage: pairs of training texts, each example paired with `pairs_per_example` texts of its
   own class (target cosine similarity 1) and as many of other classes (0); the encoder learns from
   their mean-pooled embeddings (cosine-similarity loss: the squared gap to the target). A few dozen
   labelled texts make hundreds of pairs, which is why this stage is stable where plain fine-tuning of
   a new head on 16 examples is not.
2. Head: a logistic regression (scikit-learn) fitted on the embeddings of the training texts becomes the
   classifier layer, so the saved model answers exactly as the fitted head does.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from tailor.config import Config
from tailor.errors import ConfigError


@dataclass
class FewShotResult:
    """What the train verb reads of a finished fit (the same names as the engine's FitResult)."""

    history: list[dict]
    global_step: int
    runtime_s: float
    samples_per_s: float
    precision: str = "fp32"
    best_checkpoint: str | None = None
    batching: object = None
    trainer: object = None
    pairs: int = 0

    def release_trainer(self) -> None:
        self.trainer = None


def contrastive_pairs(labels: list[int], per_example: int, seed: int) -> list[tuple[int, int, float]]:
    """(i, j, target) pairs: for every example, `per_example` partners of its class (1.0) and as many of
    other classes (0.0), drawn with a seeded generator."""
    rng = random.Random(seed)
    by_class: dict[int, list[int]] = {}
    for i, label in enumerate(labels):
        by_class.setdefault(label, []).append(i)
    pairs = []
    for _ in range(per_example):
        for i, label in enumerate(labels):
            same = [j for j in by_class[label] if j != i]
            other = [j for c, members in by_class.items() if c != label for j in members]
            if same:
                pairs.append((i, rng.choice(same), 1.0))
            if other:
                pairs.append((i, rng.choice(other), 0.0))
    rng.shuffle(pairs)
    return pairs


def fit_few_shot(model, tokenizer, data, cfg: Config) -> FewShotResult:
    """Both stages on `model` (a MeanPooledBertForSequenceClassification, method applied), in place."""
    from transformers import get_linear_schedule_with_warmup, set_seed
    from tqdm.auto import tqdm

    from tailor.console import say
    from tailor.distributed import is_main_process

    options = cfg.options.few_shot
    if data.train.get("text_pair"):
        raise ConfigError("train.strategy=few-shot: for single texts; this config has data.text_pair")
    set_seed(cfg.train.seed)
    texts, labels = data.train.columns["text"], data.train.columns["label"]
    if cfg.options.augment.copies:  # changed copies join the pairs and the head's training texts
        from tailor.tasks.text_classification import with_augmented_copies

        texts, _, labels = with_augmented_copies(texts, None, labels, tokenizer, cfg)
    label2id = {label: i for i, label in enumerate(data.labels)}
    ids = [label2id[label] for label in labels]
    pairs = contrastive_pairs(ids, options.pairs_per_example, cfg.train.seed)
    encoder = [p for p in model.bert.parameters() if p.requires_grad]
    steps = -(-len(pairs) // options.batch_size) * options.epochs
    say(f"few-shot: {len(texts)} training texts, {len(pairs):,} contrastive pairs x {options.epochs:g} epochs = "
        f"{steps} steps of {options.batch_size} pairs (lr {options.lr:g}), then a logistic-regression head")
    history, started = [], time.perf_counter()
    if encoder and steps:
        optimizer = torch.optim.AdamW(encoder, lr=options.lr, weight_decay=cfg.train.weight_decay)
        schedule = get_linear_schedule_with_warmup(optimizer, int(0.1 * steps), steps)
        model.train()
        bar = tqdm(total=steps, desc="contrastive pairs", unit="step", disable=not is_main_process())
        step = 0
        for _ in range(int(options.epochs)):
            for start in range(0, len(pairs), options.batch_size):
                chunk = pairs[start:start + options.batch_size]
                loss = _pair_loss(model, tokenizer, texts, chunk, cfg.data.max_length)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(encoder, cfg.train.max_grad_norm)
                optimizer.step()
                schedule.step()
                optimizer.zero_grad()
                step += 1
                bar.update(1)
                bar.set_postfix(loss=f"{loss.item():.4f}")
                history.append({"step": step, "loss": round(loss.item(), 6), "learning_rate": schedule.get_last_lr()[0],
                                "elapsed_s": round(time.perf_counter() - started, 3)})
        bar.close()
    fit_head(model, tokenizer, texts, ids, len(data.labels), cfg)
    runtime = time.perf_counter() - started
    return FewShotResult(history, len(history), runtime, 2 * len(pairs) * options.epochs / max(runtime, 1e-9),
                         pairs=len(pairs))


def _pair_loss(model, tokenizer, texts: list[str], chunk, max_length: int) -> torch.Tensor:
    left = _embed(model, tokenizer, [texts[i] for i, _, _ in chunk], max_length)
    right = _embed(model, tokenizer, [texts[j] for _, j, _ in chunk], max_length)
    target = torch.tensor([t for _, _, t in chunk], device=left.device)
    return F.mse_loss(F.cosine_similarity(left, right), target)


def _embed(model, tokenizer, texts: list[str], max_length: int) -> torch.Tensor:
    device = next(model.parameters()).device
    batch = tokenizer(texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt").to(device)
    return model.embed(**batch)


@torch.no_grad()
def embeddings(model, tokenizer, texts: list[str], max_length: int, batch_size: int = 64) -> np.ndarray:
    model.eval()
    return torch.cat([_embed(model, tokenizer, texts[i:i + batch_size], max_length).float().cpu()
                      for i in range(0, len(texts), batch_size)]).numpy()


def fit_head(model, tokenizer, texts: list[str], ids: list[int], classes: int, cfg: Config) -> None:
    """A logistic regression on the training embeddings, copied into the classifier layer: for two
    classes its one score is the second logit (the first 0), so the softmax is its sigmoid."""
    from sklearn.linear_model import LogisticRegression

    features = embeddings(model, tokenizer, texts, cfg.data.max_length)
    head = LogisticRegression(max_iter=5000, random_state=cfg.train.seed).fit(features, ids)
    weight = torch.zeros(classes, features.shape[1])
    bias = torch.zeros(classes)
    if classes == 2:
        weight[1], bias[1] = torch.as_tensor(head.coef_[0]), float(head.intercept_[0])
    else:
        weight[torch.as_tensor(head.classes_)] = torch.as_tensor(head.coef_, dtype=torch.float32)
        bias[torch.as_tensor(head.classes_)] = torch.as_tensor(head.intercept_, dtype=torch.float32)
    classifier = model.classifier
    classifier.weight.data.copy_(weight.to(classifier.weight))
    classifier.bias.data.copy_(bias.to(classifier.bias))


def save_few_shot_model(model, tokenizer, folder) -> None:
    """model/ written by the main process in one rename (every process computed the same weights)."""
    from tailor.distributed import barrier, is_main_process
    from tailor.runs import save_folder_atomically

    if is_main_process():
        def write(tmp) -> None:
            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)

        save_folder_atomically(folder, write)
    barrier()
