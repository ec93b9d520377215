"""Device and numeric precision: "auto" resolution and bf16 autocast (CUDA only)."""

from __future__ import annotations

import contextlib
import logging
from contextlib import AbstractContextManager

import torch

from kuda_pipeline.training.config import PRECISIONS

logger = logging.getLogger(__name__)


def resolve_device(name: str | torch.device) -> torch.device:
    """"auto" → cuda when available, else cpu; "cpu", "cuda", "cuda:N" are checked against the machine."""
    name = str(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise ValueError(f"device={name!r} is not a device name: expected 'auto', 'cpu', 'cuda' or 'cuda:N'") from error
    if device.type == "cpu":
        return device
    if device.type != "cuda":
        raise ValueError(f"device={name!r} is not supported: expected 'auto', 'cpu', 'cuda' or 'cuda:N'")
    if not torch.cuda.is_available():
        raise ValueError(f"device={name!r} was requested but CUDA is not available on this machine")
    if (device.index or 0) >= torch.cuda.device_count():
        raise ValueError(f"device={name!r} was requested but only {torch.cuda.device_count()} CUDA device(s) exist")
    return device


def resolve_precision(precision: str, device: torch.device) -> str:
    """The precision actually used on `device`: bf16 autocast runs on CUDA only; on CPU it falls back to fp32.

    CPU bf16 autocast is slow on most CPUs and changes results, so it is not offered.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r} is invalid: expected one of {PRECISIONS}")
    if precision == "bf16" and torch.device(device).type != "cuda":
        logger.warning("precision 'bf16' requested on device %s: bf16 autocast is CUDA-only, running fp32", device)
        return "fp32"
    return precision


def autocast_context(device: torch.device, precision: str) -> AbstractContextManager:
    """bf16 autocast on CUDA when `precision` is "bf16", otherwise a no-op context."""
    if precision == "bf16" and torch.device(device).type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()
