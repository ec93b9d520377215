"""Off a terminal, log records are single plain lines (Kedro's rich handler wraps at 80 columns there)."""

import io
import logging

from rich.logging import RichHandler

from kuda_pipeline.logging_hooks import plain_logs_off_terminal


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_a_piped_stream_gets_one_plain_line_per_record():
    logger = logging.getLogger("kuda_test_plain")
    logger.propagate = False
    logger.addHandler(RichHandler(level=logging.INFO))
    stream = io.StringIO()
    assert plain_logs_off_terminal(logger, stream) == 1
    message = "stage 2 epoch 1/6 train: batch 40/120 (33%), 1.30 batch/s, ETA 01:01, loss 0.4312 " * 2
    logger.warning(message)
    [line] = stream.getvalue().splitlines()
    assert line.endswith(f"WARNING kuda_test_plain: {message}")
    assert logger.handlers[0].level == logging.INFO


def test_a_terminal_keeps_the_rich_handler():
    logger = logging.getLogger("kuda_test_rich")
    logger.addHandler(RichHandler())
    assert plain_logs_off_terminal(logger, Terminal()) == 0
    assert isinstance(logger.handlers[0], RichHandler)


def test_torchrun_processes_log_plain_lines_that_name_their_rank(monkeypatch):
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    logger = logging.getLogger("kuda_test_ranks")
    logger.propagate = False
    logger.addHandler(RichHandler())
    stream = Terminal()  # a shared terminal too: two processes' rich output would interleave
    assert plain_logs_off_terminal(logger, stream) == 1
    logger.warning("epoch 1/1")
    assert stream.getvalue().splitlines()[0].endswith("[rank 1] WARNING kuda_test_ranks: epoch 1/1")
