"""Where kedro-mlflow will track, and a fail-fast probe of a remote tracking server."""

from __future__ import annotations

import http.client
import os
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlparse

import mlflow
from kedro.config import MissingConfigException

PROBE_TIMEOUT_S = 3.0
# kedro-mlflow registers the same patterns, but only in its own after_context_created, which runs after ours
MLFLOW_CONFIG_PATTERNS = ["mlflow*", "mlflow*/**", "**/mlflow*"]


def configured_tracking_uri(context: Any) -> str | None:
    """The URI kedro-mlflow will use: mlflow.yml's ``server.mlflow_tracking_uri``, else MLFLOW_TRACKING_URI."""
    if mlflow.active_run():  # kedro-mlflow then ignores mlflow.yml and keeps the active run's server
        return mlflow.get_tracking_uri()
    context.config_loader.config_patterns.setdefault("mlflow", MLFLOW_CONFIG_PATTERNS)
    try:
        server = context.config_loader["mlflow"].get("server") or {}
    except MissingConfigException:
        server = {}
    return server.get("mlflow_tracking_uri") or os.environ.get("MLFLOW_TRACKING_URI")


def check_tracking_server(uri: str | None, timeout_s: float = PROBE_TIMEOUT_S) -> None:
    """Raise ``RuntimeError`` when an http(s) tracking server does not answer ``GET <uri>/health``.

    Other URIs (sqlite, file, a local path) are local stores and are not probed. A 4xx answer counts as
    reachable (e.g. 401 behind authentication); a 5xx answer (e.g. a proxy's 502) does not.
    """
    if not uri or urlparse(uri).scheme not in ("http", "https"):
        return
    try:
        with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout_s):
            return
    except urllib.error.HTTPError as error:
        if error.code < 500:
            return
        reason = f"HTTP {error.code}"
    except urllib.error.URLError as error:
        reason = str(error.reason)
    except (OSError, http.client.HTTPException) as error:
        reason = repr(error)
    raise RuntimeError(
        f"MLflow tracking server {uri} is unreachable ({reason}, probed {uri.rstrip('/')}/health with a "
        f"{timeout_s:g} s timeout). Start the server (`mlflow server --host HOST --port PORT`) or "
        "change MLFLOW_TRACKING_URI (unset, runs go to the local sqlite:///mlflow.db)."
    )
