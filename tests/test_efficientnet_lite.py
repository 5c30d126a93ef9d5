"""EfficientNet-Lite0 as a transformers model: a tiny random config for the mechanics (fast), the
real shipped weights for the numbers (slow: ImageNet top-1 on scikit-learn's two sample photos)."""

from __future__ import annotations

import importlib
import math

import pytest
import torch

from tailor.models.catalog import EMBEDDED
from tailor.models import efficientnet_lite as lite
from tailor.models.efficientnet_lite import (EfficientNetLiteConfig, EfficientNetLiteForImageClassification,
                                             EfficientNetLiteModel)

TINY = dict(stem_channels=8, stages=[[1, 3, 1, 1, 8], [1, 3, 2, 2, 16]], head_channels=32)  # total stride 4


def tiny_model(num_labels: int = 3, seed: int = 0, **overrides) -> EfficientNetLiteForImageClassification:
    torch.manual_seed(seed)
    config = EfficientNetLiteConfig(num_labels=num_labels, **{**TINY, **overrides})
    return EfficientNetLiteForImageClassification(config)


def images(n: int, size: int = 32, seed: int = 1) -> torch.Tensor:
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


def test_tiny_forward_backward_and_the_loss_falls():
    model = tiny_model(dropout_rate=0.0)
    x, labels = images(8), torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    out = model(pixel_values=x[:2], labels=labels[:2])
    assert out.logits.shape == (2, 3) and out.loss.ndim == 0
    out.loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())

    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model.train()
    losses = []
    for _ in range(20):
        optimizer.zero_grad()
        loss = model(pixel_values=x, labels=labels).loss
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert abs(losses[0] - math.log(3)) < 0.05  # the new head (std 0.01) starts near-uniform
    assert losses[-1] < 0.7 * losses[0], losses  # 1.10 -> 0.51 here: the small head starts slow


def test_save_and_auto_load_give_identical_logits(tmp_path):
    from transformers import AutoModel, AutoModelForImageClassification

    model = tiny_model()
    with torch.no_grad():  # a few train-mode passes so the BN running stats are not the defaults
        for seed in range(3):
            model(pixel_values=images(4, seed=seed))
    model.eval()
    model.save_pretrained(tmp_path)
    loaded = AutoModelForImageClassification.from_pretrained(tmp_path).eval()  # no trust_remote_code
    assert type(loaded) is EfficientNetLiteForImageClassification
    assert loaded.config.stages == TINY["stages"] and loaded.config.batch_norm_eps == 1e-3
    x = images(2, size=37)
    with torch.no_grad():
        assert torch.equal(model(pixel_values=x).logits, loaded(pixel_values=x).logits)
    assert type(AutoModel.from_pretrained(tmp_path)) is EfficientNetLiteModel


def test_a_new_head_of_another_size_is_initialised_and_the_backbone_kept(tmp_path):
    from transformers import AutoModelForImageClassification

    model = tiny_model(num_labels=3)
    model.save_pretrained(tmp_path)
    loaded = AutoModelForImageClassification.from_pretrained(tmp_path, num_labels=5, ignore_mismatched_sizes=True)
    weight = loaded.classifier.weight
    assert weight.shape == (5, TINY["head_channels"]) and loaded.classifier.bias.shape == (5,)
    assert torch.isfinite(weight).all() and (weight != 0).all() and 0.005 < weight.std().item() < 0.02
    assert torch.isfinite(loaded.classifier.bias).all()
    saved, kept = model.efficientnet.state_dict(), loaded.efficientnet.state_dict()
    assert saved.keys() == kept.keys() and all(torch.equal(saved[k], kept[k]) for k in saved)


@pytest.mark.parametrize("size", [33, 97, 32, 224])
def test_same_padding_gives_tf_output_sizes(size):
    model = EfficientNetLiteModel(EfficientNetLiteConfig(**TINY)).eval()
    with torch.no_grad():
        out = model(pixel_values=images(1, size=size))
    side = math.ceil(size / 4)
    assert out.last_hidden_state.shape == (1, TINY["head_channels"], side, side)
    assert out.pooler_output.shape == (1, TINY["head_channels"])


def test_pad_same_matches_the_tensorflow_rule():
    x = torch.zeros(1, 1, 7, 8)
    # stride 2, kernel 3: height 7 needs 2 (1 each side), width 8 needs 1 (on the right only)
    assert lite.pad_same(x, kernel=3, stride=2).shape[-2:] == (9, 9)
    padded = lite.pad_same(torch.ones(1, 1, 8, 8), kernel=3, stride=2)
    assert padded[0, 0, :, 0].sum() == 8 and padded[0, 0, :, -1].sum() == 0  # extra pixel right/bottom
    assert lite.pad_same(x, kernel=1, stride=1) is x


def test_freezing_the_base_model_leaves_only_the_classifier():
    model = tiny_model()
    assert model.base_model is model.efficientnet
    for p in model.base_model.parameters():
        p.requires_grad_(False)
    assert {n for n, p in model.named_parameters() if p.requires_grad} == {"classifier.weight", "classifier.bias"}
    with pytest.raises((NotImplementedError, AttributeError)):
        model.get_input_embeddings()


def test_registration_survives_a_reload():
    from transformers import AutoConfig, AutoModel, AutoModelForImageClassification

    saved = dict(vars(lite))
    try:
        importlib.reload(lite)
        importlib.reload(lite)
        assert type(AutoConfig.for_model("efficientnet_lite")).__name__ == "EfficientNetLiteConfig"
    finally:  # put the original classes back, in the module and in the Auto mappings
        vars(lite).update(saved)
        AutoConfig.register("efficientnet_lite", EfficientNetLiteConfig, exist_ok=True)
        AutoModel.register(EfficientNetLiteConfig, EfficientNetLiteModel, exist_ok=True)
        AutoModelForImageClassification.register(EfficientNetLiteConfig, EfficientNetLiteForImageClassification,
                                                 exist_ok=True)
    assert type(AutoConfig.for_model("efficientnet_lite")) is EfficientNetLiteConfig


def test_pipeline_runs_on_a_tiny_model(tmp_path):
    from PIL import Image
    from transformers import ConvNextImageProcessorPil, pipeline

    model = tiny_model(num_labels=2)
    model.config.id2label, model.config.label2id = {0: "cat", 1: "dog"}, {"cat": 0, "dog": 1}
    model.save_pretrained(tmp_path)
    ConvNextImageProcessorPil(size={"shortest_edge": 32}, crop_pct=0.875).save_pretrained(tmp_path)
    answers = pipeline("image-classification", model=str(tmp_path))(Image.new("RGB", (50, 40), (200, 30, 30)))
    assert {a["label"] for a in answers} == {"cat", "dog"}
    assert sum(a["score"] for a in answers) == pytest.approx(1.0, abs=1e-5)


# --- the real shipped weights (a few seconds all together) ---------------------------------------

@pytest.fixture(scope="module")
def lite0(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lite0") / "efficientnet-lite0"  # convert creates it
    lite.convert_checkpoint(EMBEDDED["efficientnet-lite0"].shipped_path(), folder)
    return folder


def sample_photo(name: str):
    from PIL import Image
    from sklearn.datasets import load_sample_image

    return Image.fromarray(load_sample_image(name))


@pytest.mark.slow
def test_shipped_checkpoint_converts_with_every_tensor_used(lite0):
    from safetensors.torch import load_file
    from transformers import AutoModelForImageClassification

    assert {p.name for p in lite0.iterdir()} >= {"config.json", "model.safetensors", "preprocessor_config.json"}
    original = torch.load(EMBEDDED["efficientnet-lite0"].shipped_path(), map_location="cpu", weights_only=True)
    saved = load_file(lite0 / "model.safetensors")
    assert len(original) == len(saved) == 296
    assert torch.equal(saved["classifier.weight"], original["_fc.weight"])
    key = "_blocks.15._depthwise_conv.weight"
    assert torch.equal(saved["efficientnet." + key], original[key])
    model, info = AutoModelForImageClassification.from_pretrained(lite0, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    assert sum(p.numel() for p in model.parameters()) == pytest.approx(4.65e6, rel=0.01)
    assert model.config.num_labels == 1000 and model.config.id2label[698] == "imagenet-698"


@pytest.mark.slow
def test_shipped_weights_recognise_the_sample_photos(lite0):
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    processor = AutoImageProcessor.from_pretrained(lite0, backend="pil")
    model = AutoModelForImageClassification.from_pretrained(lite0).eval()
    batch = processor([sample_photo("china.jpg"), sample_photo("flower.jpg")], return_tensors="pt")
    assert batch["pixel_values"].shape == (2, 3, 224, 224)
    with torch.no_grad():
        logits = model(**batch).logits
    assert logits.argmax(-1).tolist() == [698, 985]  # palace, daisy


@pytest.mark.slow
def test_shipped_weights_through_the_pipeline(lite0):
    from transformers import pipeline

    answers = pipeline("image-classification", model=str(lite0))(sample_photo("china.jpg"), top_k=5)
    assert answers[0]["label"] == "imagenet-698" and answers[0]["score"] > 0.3
