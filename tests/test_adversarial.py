"""train.adversarial (training/adversarial.py): the push on the word embeddings checked by hand against
separate backward passes, its norms, runs that train with it (frozen embeddings stay frozen), and
the tasks and strategies that refuse it."""

import pytest
import torch
import yaml
from safetensors.torch import load_file
from transformers import AutoModelForSequenceClassification, AutoTokenizer, TrainingArguments

import tailor
from conftest import sentiment_rows
from tailor.config import TrainSection
from tailor.errors import ConfigError
from tailor.training import adversarial, engine
from tailor.training.adversarial import Adversary, adversary_for, ascend, row_norms

WORDS = "embeddings.word_embeddings.weight"


@pytest.fixture
def one_batch(tiny_bert):
    """A tiny classifier with frozen word embeddings (the default) and one padded batch."""
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_bert, num_labels=2)
    model.get_input_embeddings().weight.requires_grad_(False)
    rows = sentiment_rows(6, seed=3)
    batch = dict(AutoTokenizer.from_pretrained(tiny_bert)([r["text"] for r in rows], padding=True, return_tensors="pt"))
    batch["labels"] = torch.tensor([int(r["label"] == "positive") for r in rows])
    assert (batch["attention_mask"] == 0).any()  # pads, which the push must leave alone
    return model, batch


def _trainer(model, tmp_path, adversary):
    args = TrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to="none")
    trainer = engine.CheckpointSafeTrainer(model=model, args=args)
    trainer.use_task_loss(lambda model, inputs, num_items: (model(**inputs).loss, None))
    trainer.adversary = adversary
    return trainer


def _loss_at(model, batch, delta):
    """The batch's loss with `delta` added to its word embeddings, computed without any hook."""
    inputs = {k: v for k, v in batch.items() if k != "input_ids"}
    return model(inputs_embeds=model.get_input_embeddings()(batch["input_ids"]) + delta, **inputs).loss


def _gradients_at(model, batch, delta):
    """(loss, the weights' gradients, the gradient at delta: pads zeroed)."""
    delta = delta.detach().requires_grad_(True)
    model.zero_grad()
    loss = _loss_at(model, batch, delta)
    loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}
    return loss.detach(), grads, delta.grad * batch["attention_mask"][..., None]


def _unit_rows(x):
    return x / x.flatten(1).norm(dim=1)[:, None, None]


def _recorded(monkeypatch):
    """Every (clean loss, adversarial loss) the adversary returns and every delta it computes."""
    losses, deltas = [], []
    step, push = Adversary.step, adversarial.ascend
    monkeypatch.setattr(Adversary, "step", lambda self, *args: losses.append(step(self, *args)) or losses[-1])
    monkeypatch.setattr(adversarial, "ascend", lambda *args: deltas.append(push(*args)) or deltas[-1])
    return losses, deltas


def test_fgm_adds_the_gradients_of_the_pushed_batch_to_the_clean_ones(one_batch, tmp_path, monkeypatch):
    model, batch = one_batch
    epsilon = 0.05
    shape = (*batch["input_ids"].shape, model.config.hidden_size)
    clean_loss, clean_grads, g = _gradients_at(model, batch, torch.zeros(shape))
    delta = epsilon * _unit_rows(g)
    adversarial_loss, adversarial_grads, _ = _gradients_at(model, batch, delta)
    assert adversarial_loss > clean_loss + 1e-4  # a step up the gradient raises the loss (small epsilon)

    losses, deltas = _recorded(monkeypatch)
    model.zero_grad()
    logged = _trainer(model, tmp_path, Adversary(epsilon, 1, epsilon)).training_step(model, dict(batch))
    assert torch.allclose(logged, clean_loss, atol=1e-6)  # the clean loss is the one logged
    assert torch.allclose(losses[0][1], adversarial_loss, atol=1e-6)
    assert torch.allclose(deltas[0], delta, atol=1e-7)
    for name, parameter in model.named_parameters():
        if name.endswith(WORDS):
            assert parameter.grad is None  # frozen, and still pushed
        else:
            assert torch.allclose(parameter.grad, clean_grads[name] + adversarial_grads[name], atol=1e-6), name
    assert not torch.allclose(clean_grads["classifier.weight"],
                              clean_grads["classifier.weight"] + adversarial_grads["classifier.weight"])


def test_pgd_keeps_only_the_last_pushed_pass_gradients(one_batch, tmp_path, monkeypatch):
    model, batch = one_batch
    epsilon, alpha = 0.05, 0.04
    shape = (*batch["input_ids"].shape, model.config.hidden_size)
    _, clean_grads, g0 = _gradients_at(model, batch, torch.zeros(shape))
    first = alpha * _unit_rows(g0)  # norm 0.04: inside the ball
    _, _, g1 = _gradients_at(model, batch, first)
    second = first + alpha * _unit_rows(g1)
    assert (second.flatten(1).norm(dim=1) > epsilon).all()  # so the projection is what this checks
    second = epsilon * second / second.flatten(1).norm(dim=1)[:, None, None]
    adversarial_loss, adversarial_grads, _ = _gradients_at(model, batch, second)

    losses, deltas = _recorded(monkeypatch)
    model.zero_grad()
    _trainer(model, tmp_path, Adversary(epsilon, 2, alpha)).training_step(model, dict(batch))
    assert len(deltas) == 2 and torch.allclose(deltas[1], second, atol=1e-7)
    assert torch.allclose(losses[0][1], adversarial_loss, atol=1e-6)
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            assert torch.allclose(parameter.grad, clean_grads[name] + adversarial_grads[name], atol=1e-6), name


def test_a_chat_model_is_pushed_through_its_own_loss(tiny_llama, tmp_path, monkeypatch):
    """Chat's loss runs the decoder itself (training/lm_loss.py); its tied, frozen embeddings are pushed too."""
    from transformers import AutoModelForCausalLM

    from tailor.training.lm_loss import lean_causal_lm_loss

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny_llama)
    model.get_input_embeddings().weight.requires_grad_(False)
    ids = torch.randint(10, 1000, (2, 12))
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": ids.masked_fill(ids < 300, -100)}
    losses, deltas = _recorded(monkeypatch)
    trainer = _trainer(model, tmp_path, Adversary(0.05, 1, 0.05))
    trainer.use_task_loss(lambda model, inputs, num_items: (lean_causal_lm_loss(model, inputs, num_items), None))
    trainer.training_step(model, batch)
    (clean, pushed), = losses
    assert torch.allclose(row_norms(deltas[0]).flatten(), torch.full((2,), 0.05))
    with torch.no_grad():
        assert torch.allclose(pushed, _loss_at(model, batch, deltas[0]), atol=1e-5) and pushed > clean
    assert model.get_input_embeddings().weight.grad is None and model.model.layers[0].mlp.up_proj.weight.grad.any()


def test_a_push_has_norm_epsilon_for_fgm_and_stays_within_it_for_pgd():
    torch.manual_seed(0)
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0], [1, 1, 1, 1]])
    gradient = torch.randn(3, 4, 8)
    fgm = ascend(torch.zeros(3, 4, 8), gradient, 0.7, 0.7, mask)
    assert torch.allclose(row_norms(fgm).flatten(), torch.full((3,), 0.7))
    assert (fgm[mask == 0] == 0).all()
    delta = torch.zeros(3, 4, 8)
    for _ in range(5):  # pushes in about one direction: their sum would leave the ball after two
        delta = ascend(delta, gradient + 0.3 * torch.randn(3, 4, 8), 0.3, 0.5, mask)
        assert (row_norms(delta).flatten() <= 0.5 + 1e-6).all() and (delta[mask == 0] == 0).all()
    assert torch.allclose(row_norms(delta).flatten(), torch.full((3,), 0.5))
    # a row without gradient (every token a pad, or no signal) gets no push and no NaN
    assert (ascend(torch.zeros(1, 2, 3), torch.zeros(1, 2, 3), 1.0, 1.0, None) == 0).all()


@pytest.mark.parametrize("settings", [{"adversarial": "fgm", "adversarial_epsilon": 0.1},
                                      {"adversarial": "pgd", "adversarial_epsilon": 0.1, "adversarial_steps": 2,
                                       "adversarial_alpha": 0.06, "gradient_checkpointing": True}],
                         ids=["fgm", "pgd + gradient checkpointing"])
def test_training_pushes_frozen_word_embeddings_and_leaves_them_unchanged(make_config, tiny_bert, monkeypatch,
                                                                          settings):
    losses, deltas = _recorded(monkeypatch)
    result = tailor.train(make_config(train={"epochs": 2, "freeze_embeddings": True, **settings}))
    before = load_file(tiny_bert / "model.safetensors")
    after = load_file(result.dir / "model" / "model.safetensors")
    assert torch.equal(before[WORDS], after[f"bert.{WORDS}"])
    layer = "encoder.layer.0.attention.self.query.weight"
    assert not torch.equal(before[layer], after[f"bert.{layer}"])
    assert len(losses) == result.metrics["train"]["steps"] == 20  # one pushed pass per step: 160 rows / 16, 2 epochs
    norms = [row_norms(d.detach()).flatten() for d in deltas]
    if settings["adversarial"] == "fgm":
        assert len(norms) == 20 and all(torch.allclose(n, torch.full_like(n, 0.1)) for n in norms)
    else:  # two pushes a step: the first of alpha, the second brings the sum to at most epsilon
        assert len(norms) == 40 and all(torch.allclose(n, torch.full_like(n, 0.06)) for n in norms[0::2])
        assert all(((n > 0.06) & (n <= 0.1 + 1e-6)).all() for n in norms[1::2])
    assert all(adversarial > clean for clean, adversarial in losses[:3])  # before the model learns the pushes too


def test_method_lora_and_freeze_train_with_fgm(make_config, monkeypatch):
    losses, _ = _recorded(monkeypatch)
    for method, dir in (("lora", "lora"), ("freeze", "freeze")):
        tailor.train(make_config(method=method, train={"epochs": 1, "adversarial": "fgm"}, output={"dir": dir}))
    assert len(losses) == 20  # 10 steps each


def test_l1_penalty_counts_once_per_step(one_batch, tmp_path):
    """train.l1's term goes with the clean loss only: the pushed pass adds the task loss's gradients alone."""
    model, batch = one_batch
    plain, with_l1 = [], []
    for l1, grads in ((0.0, plain), (0.01, with_l1)):
        trainer = _trainer(model, tmp_path, Adversary(0.05, 1, 0.05))
        trainer.l1 = l1
        model.zero_grad()
        trainer.training_step(model, dict(batch))
        grads.append(model.classifier.weight.grad.clone())
    difference = with_l1[0] - plain[0]
    assert torch.allclose(difference, 0.01 * model.classifier.weight.sign(), atol=1e-6)


def test_an_image_task_refuses_adversarial_training(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "images.yaml").write_text(yaml.safe_dump({"task": "image-classification",
                                                          "data": {"train": "photos"},
                                                          "train": {"adversarial": "pgd"}}))
    code, _, err = cli("train", "images.yaml")
    assert code == 2
    assert err == ("error: images.yaml: train.adversarial=pgd pushes the embeddings of input tokens: for text tasks "
                   "(text and token classification, chat); task image-classification reads its inputs with an "
                   "image-processor, not a tokenizer\n")


def test_few_shot_strategy_refuses_adversarial_training(make_config, cli):
    code, _, err = cli("train", make_config(), "train.strategy=few-shot", "train.adversarial=fgm")
    assert code == 2 and err.endswith("config.yaml: train.adversarial=fgm: not with train.strategy=few-shot (its "
                                      "contrastive stage trains on pairs of texts, not in the engine's steps)\n")


@pytest.mark.parametrize("value", ["adversarial_epsilon=0", "adversarial_steps=0", "adversarial=free"])
def test_bad_adversarial_settings_are_config_errors(make_config, cli, value):
    code, _, err = cli("train", make_config(), f"train.{value}")
    assert code == 2 and f"train.{value.split('=')[0]}" in err


def test_a_model_without_input_embeddings_is_refused():
    class Model(torch.nn.Module):
        def __init__(self, embeddings):
            super().__init__()
            self.embeddings = embeddings

        def get_input_embeddings(self):
            if self.embeddings is None:
                raise NotImplementedError
            return self.embeddings

    with pytest.raises(ConfigError, match=r"^train.adversarial=fgm: model Model has no input word embeddings "
                                          r"\(get_input_embeddings\) to push; set train.adversarial=none$"):
        adversary_for(TrainSection(adversarial="fgm"), Model(None))
    assert adversary_for(TrainSection(), Model(None)) is None
    words = Model(torch.nn.Embedding(3, 2))
    assert adversary_for(TrainSection(adversarial="fgm", adversarial_epsilon=0.4), words) == Adversary(0.4, 1, 0.4)
    assert adversary_for(TrainSection(adversarial="pgd", adversarial_steps=4, adversarial_alpha=0.2),
                         words) == Adversary(0.1, 4, 0.2)
