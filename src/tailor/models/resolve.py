"""Turn a `model:` value into something from_pretrained can load: embedded alias, local folder or hub id."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

from tailor.errors import ModelError
from tailor.models.catalog import EMBEDDED

HUB_HOST = "huggingface.co"


@dataclass(frozen=True)
class ModelSource:
    location: str  # folder path or hub id, for from_pretrained
    kind: str  # "embedded" | "local" | "hub"
    display: str  # what to tell the user
    cached_only: bool = False  # a hub id found in the local cache while the hub is unreachable

    def load_kwargs(self, revision: str | None, trust_remote_code: bool) -> dict:
        kwargs = {"trust_remote_code": trust_remote_code}
        if self.kind == "hub" and revision:
            kwargs["revision"] = revision
        if self.cached_only:
            kwargs["local_files_only"] = True
        return kwargs


def resolve_model(name: str) -> ModelSource:
    if name in EMBEDDED:
        folder = EMBEDDED[name].path()
        return ModelSource(str(folder), "embedded", f"{name} (embedded, {folder})")
    path = Path(name).expanduser()
    if path.exists():
        if not (path / "config.json").exists():  # every task so far loads with transformers' Auto classes
            raise ModelError(f"model folder {path} has no config.json; give a folder written by save_pretrained")
        return ModelSource(str(path.resolve()), "local", str(path.resolve()))
    if name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise ModelError(f"model folder {name} not found; embedded models: {', '.join(EMBEDDED)} (`tailor models`)")
    reason = _hub_unreachable_reason()
    if reason is None:
        return ModelSource(name, "hub", f"{name} (hub)")
    if _in_hub_cache(name):
        return ModelSource(name, "hub", f"{name} (hub cache, offline)", cached_only=True)
    raise ModelError(f"model '{name}' is not an embedded alias or a local folder, and it cannot be downloaded: "
                     f"{reason}. Use an embedded model ({', '.join(EMBEDDED)}; see `tailor models`) or a local "
                     "folder written by save_pretrained")


def _hub_unreachable_reason(timeout: float = 3.0) -> str | None:
    """Why the hub cannot be used, found in seconds rather than after a minute of retries."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return "HF_HUB_OFFLINE is set"
    try:
        socket.create_connection((HUB_HOST, 443), timeout=timeout).close()
    except OSError as exc:
        return f"cannot reach {HUB_HOST} ({exc.__class__.__name__})"
    return None


def _in_hub_cache(name: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache

        return isinstance(try_to_load_from_cache(name, "config.json"), str)
    except Exception:  # an invalid repo id, or a hub library without this helper
        return False


def is_decoder_lm(name: str) -> bool:
    """Whether `model:` names a causal LM (SmolLM2, Llama, Qwen ...), judged from the catalog or the
    model's config.json without loading weights (a hub id only where its config can be read)."""
    import json

    if name in EMBEDDED:
        return EMBEDDED[name].decoder
    config_file = Path(name).expanduser() / "config.json"
    try:
        if config_file.is_file():
            config = json.loads(config_file.read_text(encoding="utf-8"))
        else:
            from transformers import AutoConfig

            cached = _in_hub_cache(name)
            if not cached and _hub_unreachable_reason() is not None:
                return False  # nothing to read it from: resolving the model says why
            config = AutoConfig.from_pretrained(name, local_files_only=cached).to_dict()
    except Exception:  # not readable now: resolving the model later says why
        return False
    return not config.get("is_encoder_decoder") and any(
        arch.endswith(("ForCausalLM", "LMHeadModel")) for arch in config.get("architectures") or [])
