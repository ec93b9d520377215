"""Seeding and snapshots of every random number generator the training loop consumes."""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

logger = logging.getLogger(__name__)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and every CUDA device); make cuDNN pick deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False


def capture_rng_state(generators: Sequence[torch.Generator] = ()) -> dict[str, Any]:
    """The global RNG states plus those of `generators`, as tensors and plain values.

    Plain types only, so that the snapshot loads with `torch.load(..., weights_only=True)`.
    """
    version, internal, gauss_next = random.getstate()
    kind, keys, position, has_gauss, cached_gaussian = np.random.get_state()
    return {
        "python": {"version": version, "internal": list(internal), "gauss_next": gauss_next},
        "numpy": {
            "kind": str(kind),
            "keys": keys.tolist(),
            "position": int(position),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached_gaussian),
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "generators": [generator.get_state() for generator in generators],
    }


def restore_rng_state(state: dict[str, Any], generators: Sequence[torch.Generator] = ()) -> None:
    """Inverse of `capture_rng_state`; `generators` must match those captured, in order."""
    if len(state["generators"]) != len(generators):
        raise ValueError(
            f"the RNG snapshot holds {len(state['generators'])} generator state(s) but {len(generators)} "
            "generator(s) were given: the loaders' shuffling set-up differs from the saved run"
        )
    python = state["python"]
    random.setstate((python["version"], tuple(python["internal"]), python["gauss_next"]))
    numpy = state["numpy"]
    np.random.set_state((numpy["kind"], np.asarray(numpy["keys"], dtype=np.uint32), numpy["position"],
                         numpy["has_gauss"], numpy["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    if state["cuda"]:
        if torch.cuda.is_available() and torch.cuda.device_count() == len(state["cuda"]):
            torch.cuda.set_rng_state_all(state["cuda"])
        else:
            logger.warning("the RNG snapshot holds %d CUDA state(s) for a machine with %d CUDA device(s): "
                           "CUDA RNG not restored", len(state["cuda"]), torch.cuda.device_count())
    for generator, generator_state in zip(generators, state["generators"]):
        generator.set_state(generator_state)
