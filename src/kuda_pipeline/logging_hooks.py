"""Log lines a file or CI can grep: off a terminal, Kedro's rich console handler (which wraps every line at 80
columns when it cannot measure a terminal) gives way to a plain one-line-per-record handler. Under torchrun, whose
processes share one console, every process logs plain lines that name its rank."""

from __future__ import annotations

import logging
import sys
from typing import Any

from kedro.framework.hooks import hook_impl
from rich.logging import RichHandler

from kuda_pipeline.training.distributed import launched_rank, launched_world_size

PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
RANK_FORMAT = "%(asctime)s [rank {rank}] %(levelname)s %(name)s: %(message)s"


def plain_logs_off_terminal(logger: logging.Logger | None = None, stream: Any = None) -> int:
    """Replace each rich handler of `logger` (the root by default) by a plain stream handler at the same level when
    `stream` (stderr) is not a terminal, nor a notebook (where rich renders HTML), or when torchrun started several
    processes (their lines then carry ``[rank N]``). Returns how many were replaced."""
    logger = logger or logging.getLogger()
    stream = stream or sys.stderr
    several_ranks = launched_world_size() > 1
    if not several_ranks and (stream.isatty() or "ipykernel" in sys.modules):
        return 0
    line_format = RANK_FORMAT.format(rank=launched_rank()) if several_ranks else PLAIN_FORMAT
    replaced = 0
    for handler in list(logger.handlers):
        if isinstance(handler, RichHandler):
            plain = logging.StreamHandler(stream)
            plain.setLevel(handler.level)
            plain.setFormatter(logging.Formatter(line_format))
            logger.removeHandler(handler)
            logger.addHandler(plain)
            replaced += 1
    return replaced


class LoggingHooks:
    """Plain log lines when Kedro's output goes to a file or a pipe, or comes from several torchrun processes."""

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        plain_logs_off_terminal()
