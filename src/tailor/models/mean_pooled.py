"""A BERT sequence classifier that reads the mean of its token states instead of the [CLS] token.

Sentence-transformer checkpoints such as the embedded MiniLM were trained to mean-pool: their [CLS]
pooler is not what their sentence embedding is. The few-shot strategy (training/few_shot.py) trains
that mean-pooled embedding contrastively and fits its head on it, so the model it hands back must read
the same thing. Same weight names as BertForSequenceClassification (`bert.*`, `classifier.*`), so a
BERT checkpoint loads into it unchanged; its own model_type makes a folder of it load through the
Auto classes (after importing this module: no remote code) and never silently as a [CLS] classifier.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoConfig, AutoModelForSequenceClassification, BertConfig, BertModel, BertPreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput


class MeanPooledBertConfig(BertConfig):
    model_type = "bert_mean_pooled"


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
    """The average of the token states a row really has (padding left out)."""
    if attention_mask is None:
        return hidden.mean(1)
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)


class MeanPooledBertForSequenceClassification(BertPreTrainedModel):
    config_class = MeanPooledBertConfig
    # forward takes **kwargs (Trainer and pipelines pass extras); its loss is a plain mean (see
    # efficientnet_lite.py): the trainer must scale it for gradient accumulation itself.
    accepts_loss_kwargs = False

    def __init__(self, config: MeanPooledBertConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.bert = BertModel(config, add_pooling_layer=False)
        dropout = config.classifier_dropout if config.classifier_dropout is not None else config.hidden_dropout_prob
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def embed(self, input_ids=None, attention_mask=None, token_type_ids=None, **kwargs) -> torch.Tensor:
        """The sentence embedding the classifier reads."""
        hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                           **kwargs).last_hidden_state
        return mean_pool(hidden, attention_mask)

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, labels=None,
                **kwargs) -> SequenceClassifierOutput:
        logits = self.classifier(self.dropout(self.embed(input_ids, attention_mask, token_type_ids)))
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits.view(-1, self.num_labels), labels.view(-1).to(logits.device))
        return SequenceClassifierOutput(loss=loss, logits=logits)


# exist_ok: importing twice or importlib.reload registers again without raising
AutoConfig.register(MeanPooledBertConfig.model_type, MeanPooledBertConfig, exist_ok=True)
AutoModelForSequenceClassification.register(MeanPooledBertConfig, MeanPooledBertForSequenceClassification,
                                            exist_ok=True)


def mean_pooled_classifier(location: str, labels: list[str], **load_kwargs) -> MeanPooledBertForSequenceClassification:
    """A BERT-family checkpoint's encoder under a new mean-pooled classification head."""
    from tailor.errors import ConfigError
    from tailor.models.loading import quiet_load_report

    base = AutoConfig.from_pretrained(location, **load_kwargs)
    if base.model_type not in ("bert", MeanPooledBertConfig.model_type):
        raise ConfigError(f"train.strategy=few-shot needs a BERT-family sentence encoder (such as the embedded "
                          f"minilm); {location} is a {base.model_type} model")
    values = {k: v for k, v in base.to_dict().items() if k not in ("model_type", "architectures")}
    config = MeanPooledBertConfig(**{**values, "num_labels": len(labels), "id2label": dict(enumerate(labels)),
                                     "label2id": {label: i for i, label in enumerate(labels)}})
    with quiet_load_report():
        return MeanPooledBertForSequenceClassification.from_pretrained(location, config=config,
                                                                       ignore_mismatched_sizes=True, **load_kwargs)
