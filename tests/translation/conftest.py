"""Translation tests run their tiny models on one thread."""

import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def single_torch_thread():
    """One thread: the tiny model runs in milliseconds, and thread contention on a shared CPU costs seconds."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
