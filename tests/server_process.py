"""A server started as a subprocess for a test: a free port, a wait until it answers, its process group stopped."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_server(command: list[str], ready_url: str, log_path: Path, timeout_s: float, *,
                   cwd: Path | None = None, env: dict[str, str] | None = None) -> Iterator[None]:
    """Run `command` (its output in `log_path`) until the block ends; enter once `ready_url` answers a GET.

    The test fails with the log's tail when the process exits or `timeout_s` passes first. The whole process
    group is stopped afterwards (SIGTERM, then SIGKILL after 10 s).
    """
    with log_path.open("w") as log:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with urllib.request.urlopen(ready_url, timeout=2):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"{' '.join(command[1:4])} did not start: {log_path.read_text()[-3000:]}")
                time.sleep(0.5)
        yield
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
