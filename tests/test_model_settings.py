"""model.dropout and model.attention: applied to the built model's modules, not to what it saves."""

import pytest
import torch
from torch import nn
from transformers import BertConfig, BertForSequenceClassification, LlamaConfig, LlamaForCausalLM

from tailor.config import Config
from tailor.models.settings import apply_model_settings, choose_attention


def small_bert(dropout: float = 0.1) -> BertForSequenceClassification:
    torch.manual_seed(0)
    config = BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout)
    return BertForSequenceClassification(config)


def settings(**model) -> Config:
    return Config(task="text-classification", data={"train": "train.csv"}, model=model)


def test_dropout_zero_makes_training_mode_deterministic_and_leaves_the_saved_config_alone():
    model = small_bert(dropout=0.3).train()
    ids = torch.randint(5, 100, (4, 12))
    assert not torch.equal(model(input_ids=ids).logits, model(input_ids=ids).logits)  # dropout is live
    apply_model_settings(model, settings(dropout=0.0))
    assert torch.equal(model(input_ids=ids).logits, model(input_ids=ids).logits)
    assert {m.p for m in model.modules() if isinstance(m, nn.Dropout)} == {0.0}
    assert model.config.hidden_dropout_prob == model.config.attention_probs_dropout_prob == 0.3


def test_dropout_reaches_the_attention_dropout_that_llama_reads_at_call_time():
    model = LlamaForCausalLM(LlamaConfig(vocab_size=100, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                         num_attention_heads=4, num_key_value_heads=2, attention_dropout=0.0))
    apply_model_settings(model, settings(dropout=0.2))
    assert [layer.self_attn.attention_dropout for layer in model.model.layers] == [0.2, 0.2]


def test_unset_dropout_keeps_the_model_own():
    model = small_bert(dropout=0.1)
    apply_model_settings(model, settings())
    assert {m.p for m in model.modules() if isinstance(m, nn.Dropout)} == {0.1}


@pytest.mark.skipif(torch.cuda.is_available(), reason="'auto' follows the task's choice on a CPU only")
def test_auto_attention_follows_the_task_on_a_cpu_and_eager_gives_the_same_outputs_as_sdpa():
    assert choose_attention("auto", "eager") == "eager" and choose_attention("auto", None) is None
    assert choose_attention("sdpa", "eager") == "sdpa"
    model = small_bert().eval()
    ids = torch.randint(5, 100, (3, 10))
    mask = torch.ones_like(ids)
    mask[0, 6:] = 0  # padding must be masked the same way by both kernels
    apply_model_settings(model, settings(attention="sdpa"))
    assert model.config._attn_implementation == "sdpa"
    with torch.no_grad():
        sdpa = model(input_ids=ids, attention_mask=mask).logits
    apply_model_settings(model, settings(), cpu_attention="eager")
    assert model.config._attn_implementation == "eager"
    with torch.no_grad():
        eager = model(input_ids=ids, attention_mask=mask).logits
    torch.testing.assert_close(eager, sdpa, atol=1e-5, rtol=1e-5)
