"""Same seed and inputs, same bytes: both stages seed every RNG before building their model."""

from __future__ import annotations

import io

import pytest
import torch
from tiny_models import ARCHITECTURE, TRAIN, tiny_split_arrays

from kuda_pipeline.training.config import TrainConfig
from kuda_pipeline.training.stages import pretrain_knowledge, train_fusion


@pytest.fixture(scope="module")
def arrays(tiny_bert_dir) -> dict:
    return tiny_split_arrays(tiny_bert_dir, seed=3)


def saved_bytes(state: dict) -> bytes:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def both_stages(arrays, text_encoder_dir, seed: int, disturbance: int) -> tuple[dict[str, bytes], bytes, list]:
    """Stage 1 of every modality, then stage 2, after drawing `disturbance` numbers from the global RNGs."""
    torch.rand(disturbance)
    train = TrainConfig.from_dict({**TRAIN, "seed": seed})
    stage1 = {m: pretrain_knowledge(m, arrays, ARCHITECTURE, text_encoder_dir, train, "sims") for m in "tva"}
    torch.rand(disturbance)
    stage2, _ = train_fusion(arrays, {m: result.state for m, result in stage1.items()}, ARCHITECTURE,
                             text_encoder_dir, train, "sims")
    return {m: saved_bytes(result.state) for m, result in stage1.items()}, saved_bytes(stage2.state), stage2.history


def test_the_same_seed_gives_the_same_checkpoint_bytes_and_metrics_whatever_ran_before(arrays, tiny_bert_dir):
    first = both_stages(arrays, tiny_bert_dir, seed=0, disturbance=3)
    second = both_stages(arrays, tiny_bert_dir, seed=0, disturbance=11)
    other = both_stages(arrays, tiny_bert_dir, seed=1, disturbance=3)
    assert first[0] == second[0] and first[1] == second[1]
    assert first[2] == second[2] and "valid_MAE" in first[2][0]
    assert all(first[0][m] != other[0][m] for m in "tva") and first[1] != other[1]
    assert first[2] != other[2]
