"""Progress inside an epoch: a bar on a terminal, a log line every interval elsewhere."""

import logging

from kuda_pipeline.training.progress import BatchProgress


class FakeClock:
    """Each call advances 10 s (one call per finished batch, after the start)."""

    def __init__(self):
        self.now = -10.0

    def __call__(self):
        self.now += 10.0
        return self.now


def test_off_a_terminal_a_line_every_interval_with_rate_eta_and_loss(caplog):
    progress = BatchProgress(range(7), "stage 2 epoch 1/3 train", interval_s=30.0, terminal=False, clock=FakeClock())
    with caplog.at_level(logging.INFO, logger="kuda_pipeline.training.progress"):
        for batch in progress:
            progress.set_loss(0.5 / (batch + 1))
    assert caplog.messages == [
        "stage 2 epoch 1/3 train: batch 3/7 (43%), 0.10 batch/s, ETA 00:40, loss 0.1667",
        "stage 2 epoch 1/3 train: batch 6/7 (86%), 0.10 batch/s, ETA 00:10, loss 0.0833",
    ]


def test_on_a_terminal_a_bar_and_no_log_lines(caplog):
    progress = BatchProgress(range(4), "evaluate", interval_s=0.0, terminal=True, clock=FakeClock())
    with caplog.at_level(logging.INFO, logger="kuda_pipeline.training.progress"):
        assert list(progress) == [0, 1, 2, 3]
    assert progress.bar.n == 4 and progress.bar.total == 4
    assert caplog.messages == []


def test_a_loader_without_length_logs_the_batch_count_only(caplog):
    progress = BatchProgress(iter(range(2)), "", interval_s=10.0, terminal=False, clock=FakeClock())
    with caplog.at_level(logging.INFO, logger="kuda_pipeline.training.progress"):
        list(progress)
    assert caplog.messages == ["epoch: batch 1, 0.10 batch/s", "epoch: batch 2, 0.10 batch/s"]
