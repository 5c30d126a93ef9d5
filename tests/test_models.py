"""Model names resolve to embedded weights, local folders or the hub; offline hub ids fail fast and clearly."""

import socket
import time

import pytest

from tailor.errors import ModelError
from tailor.models.catalog import EMBEDDED
from tailor.models.resolve import resolve_model


def test_embedded_alias_and_local_folder(tiny_bert):
    embedded = resolve_model("minilm")
    assert embedded.kind == "embedded" and embedded.location == str(EMBEDDED["minilm"].path())
    local = resolve_model(str(tiny_bert))
    assert local.kind == "local" and local.load_kwargs(None, False) == {"trust_remote_code": False}


def test_folder_without_config_and_missing_folder(tmp_path):
    with pytest.raises(ModelError, match="has no config.json"):
        resolve_model(str(tmp_path))
    with pytest.raises(ModelError, match="model folder ./nope not found"):
        resolve_model("./nope")


def test_hub_id_offline_fails_within_seconds(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    started = time.perf_counter()
    with pytest.raises(ModelError) as error:
        resolve_model("someone/bert-for-reviews")
    assert time.perf_counter() - started < 5
    assert str(error.value) == ("model 'someone/bert-for-reviews' is not an embedded alias or a local folder, and it "
                                "cannot be downloaded: HF_HUB_OFFLINE is set. Use an embedded model (minilm, smollm2, "
                                "efficientnet-lite0; see "
                                "`tailor models`) or a local folder written by save_pretrained")


def test_unreachable_hub_is_detected_without_retries(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)

    def refuse(*args, **kwargs):
        raise ConnectionRefusedError

    monkeypatch.setattr(socket, "create_connection", refuse)
    with pytest.raises(ModelError, match=r"cannot reach huggingface.co \(ConnectionRefusedError\)"):
        resolve_model("someone/bert-for-reviews")


def test_cli_reports_a_missing_model_in_one_line(make_config, cli):
    code, _, err = cli("train", make_config(model="someone/bert-for-reviews"))
    assert code == 2 and err.startswith("error: model 'someone/bert-for-reviews' is not an embedded alias")
    assert len(err.strip().splitlines()) == 1 and not (make_config().parent / "runs").exists()
