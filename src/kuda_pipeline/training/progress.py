"""Progress over the batches of one epoch: a tqdm bar on a terminal, a periodic log line anywhere else."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from tqdm import tqdm

logger = logging.getLogger(__name__)

LOG_INTERVAL_S = 30.0


class BatchProgress:
    """Iterates `loader`. On a terminal (stderr a tty): a bar with the rate and the ETA that vanishes at the end.
    Elsewhere (a log file, CI): a log line every `interval_s` seconds, `<description>: batch i/n (p%), r batch/s,
    ETA m:ss, loss x`. A batch counts as done when the next one is asked for."""

    def __init__(
        self,
        loader: Iterable[Any],
        description: str,
        interval_s: float = LOG_INTERVAL_S,
        terminal: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = len(loader) if hasattr(loader, "__len__") else None
        self.description = description or "epoch"
        self.interval_s = interval_s
        self.clock = clock
        self.loss: float | None = None
        self.terminal = sys.stderr.isatty() if terminal is None else terminal
        self.bar = tqdm(loader, desc=description, total=self.total, leave=False, unit="batch", disable=not self.terminal)

    def set_loss(self, loss: float) -> None:
        self.loss = loss
        self.bar.set_postfix(loss=f"{loss:.4f}", refresh=False)

    def __iter__(self) -> Iterator[Any]:
        start = last = self.clock()
        done = 0
        try:
            for batch in self.bar:
                yield batch
                done += 1
                now = self.clock()
                if not self.terminal and now - last >= self.interval_s:
                    last = now
                    self._log(done, now - start)
        finally:
            self.bar.close()

    def _log(self, done: int, elapsed_s: float) -> None:
        rate = done / elapsed_s if elapsed_s > 0 else float("inf")
        where = f"batch {done}/{self.total} ({100 * done / self.total:.0f}%)" if self.total else f"batch {done}"
        eta = f", ETA {tqdm.format_interval((self.total - done) / rate)}" if self.total and rate > 0 else ""
        loss = f", loss {self.loss:.4f}" if self.loss is not None else ""
        logger.info("%s: %s, %.2f batch/s%s%s", self.description, where, rate, eta, loss)
