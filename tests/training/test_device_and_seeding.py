"""Device/precision resolution, seeding, and RNG snapshots that survive a weights-only round trip."""

import logging
import random

import numpy as np
import pytest
import torch

from kuda_pipeline.training.checkpoint import load_state, save_state
from kuda_pipeline.training.device import autocast_context, resolve_device, resolve_precision
from kuda_pipeline.training.seeding import capture_rng_state, restore_rng_state, seed_everything


def test_auto_device_follows_cuda_availability(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")


def test_unavailable_or_unknown_devices_are_rejected(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="device='cuda:0' was requested but CUDA is not available"):
        resolve_device("cuda:0")
    with pytest.raises(ValueError, match="device='gpu' is not a device name"):
        resolve_device("gpu")
    with pytest.raises(ValueError, match="device='meta' is not supported"):
        resolve_device("meta")


def test_bf16_on_cpu_falls_back_to_fp32_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="kuda_pipeline.training.device"):
        assert resolve_precision("bf16", torch.device("cpu")) == "fp32"
    assert "bf16 autocast is CUDA-only" in caplog.text
    assert resolve_precision("bf16", torch.device("cuda")) == "bf16"
    with pytest.raises(ValueError, match="precision='fp16' is invalid"):
        resolve_precision("fp16", torch.device("cpu"))
    with autocast_context(torch.device("cpu"), "bf16"):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32


def draws(generator: torch.Generator) -> tuple:
    return random.random(), float(np.random.rand()), torch.rand(3).tolist(), torch.rand(2, generator=generator).tolist()


def test_seed_everything_repeats_python_numpy_and_torch_draws():
    generator = torch.Generator().manual_seed(1)
    seed_everything(123)
    first = draws(generator)[:3]
    seed_everything(123)
    assert draws(generator)[:3] == first
    assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark


def test_rng_snapshot_restores_every_generator_after_a_weights_only_round_trip(tmp_path):
    generator = torch.Generator().manual_seed(5)
    seed_everything(9)
    random.gauss(0, 1), np.random.randn()  # leave cached Gaussians in both states
    save_state(tmp_path / "rng.pt", capture_rng_state([generator]))
    expected = draws(generator)
    seed_everything(0)
    generator.manual_seed(77)
    restore_rng_state(load_state(tmp_path / "rng.pt"), [generator])
    assert draws(generator) == expected
    with pytest.raises(ValueError, match="holds 1 generator state"):
        restore_rng_state(load_state(tmp_path / "rng.pt"), [])
