"""`tailor serve`: a run answering over HTTP (serving/app.py), on localhost unless told otherwise,
and never off localhost without an API key."""

from __future__ import annotations

import ipaddress
import logging
from pathlib import Path

from tailor.errors import ConfigError
from tailor.runs import RunDir
from tailor.serving.limits import Limits

LOCAL_NAMES = ("localhost", "ip6-localhost")


def serve(target: str | Path, *, host: str = "127.0.0.1", port: int = 8000, api_key: str | None = None,
          precision: str = "fp32", limits: Limits = Limits(), log_level: str = "info", head: str | None = None) -> None:
    """Serve until interrupted. The folder is checked before the port opens; the weights load while
    /health already answers (503 until ready)."""
    server, state = make_server(target, host=host, port=port, api_key=api_key, precision=precision, limits=limits,
                                log_level=log_level, head=head)
    server.run()
    if state.failed is not None:
        raise ConfigError(f"{target}: the model could not be loaded ({state.failed})")


def make_server(target: str | Path, *, host: str = "127.0.0.1", port: int = 8000, api_key: str | None = None,
                precision: str = "fp32", limits: Limits = Limits(), log_level: str = "info", head: str | None = None):
    """(uvicorn server, its ServerState), not started: `serve` runs it; tests run it in a thread. `head`: the
    head of a multi-task run that answers."""
    from tailor.verbs.common import answering_folder

    import uvicorn

    from tailor.serving.app import BodyLimit, ServerState, create_app

    folder = _servable(answering_folder(target, head), precision)
    if not is_local(host) and not api_key:
        raise ConfigError(f"--host {host} accepts connections from other machines: give an API key (set "
                          "TAILOR_API_KEY, or --api-key) so that only your clients are answered, or serve on "
                          "127.0.0.1")
    if api_key is not None and len(api_key) < 16:
        raise ConfigError("the API key is shorter than 16 characters; use a long random one, e.g. "
                          "`python -c \"import secrets; print(secrets.token_urlsafe(32))\"`")
    _log_to_stderr(log_level)

    def load():
        from tailor.serving.answerer import load_answerer

        return load_answerer(folder, precision)

    state = ServerState(load=load, limits=limits)
    app = BodyLimit(create_app(state, api_key), limits.max_body_bytes)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level=log_level, access_log=True,
                                           timeout_graceful_shutdown=5))
    state.on_failure = lambda: setattr(server, "should_exit", True)
    return server, state


def is_local(host: str) -> bool:
    if host in LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _servable(folder: Path, precision: str) -> Path:
    """The folder must be one `tailor serve` can answer with; said before the port opens."""
    from tailor.models.precision import PRECISIONS
    from tailor.verbs.common import is_answering_folder

    if precision not in PRECISIONS:
        raise ConfigError(f"--precision {precision}: choose one of {', '.join(PRECISIONS)}")
    if folder.suffix == ".gguf" or (folder.is_dir() and any(folder.glob("*.gguf"))):
        raise ConfigError(f"{folder}: a GGUF export is served by llama.cpp (`llama-server -m FILE.gguf`) or Ollama "
                          "(`ollama create NAME -f Modelfile`); tailor serve takes a run folder or an hf/onnx export")
    if not is_answering_folder(folder):
        raise ConfigError(f"{folder}: not a run folder (config.yaml and model/) or an hf/onnx export of one")
    run = RunDir(folder)
    if run.config.is_file():
        run.require_model()
    return folder


def _log_to_stderr(level: str) -> None:
    logger = logging.getLogger("tailor.serve")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s:     %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(level.upper())
    logger.propagate = False
