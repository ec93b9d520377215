"""Data-parallel training: helpers on one process, and stage 2 on two gloo processes against one process."""

from __future__ import annotations

import dataclasses
import socket
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from tiny_models import ARCHITECTURE, TRAIN
from transformers import AutoTokenizer, BertConfig, BertModel

from kuda_pipeline.data.mmsa import ingest_mmsa
from kuda_pipeline.data.synthetic import SyntheticSpec, generate_corpus
from kuda_pipeline.model.knowledge import UnimodalKnowledgeModel
from kuda_pipeline.model.objectives import fusion_step
from kuda_pipeline.model.text_encoder import embedded_text_encoder_dir, load_text_encoder, read_token_limits
from kuda_pipeline.training import distributed, stages
from kuda_pipeline.training.config import TrainConfig
from kuda_pipeline.training.distributed import BatchShard, Topology, per_rank_batch_size
from kuda_pipeline.training.fit import CHECKPOINT_NAME, fit
from kuda_pipeline.training.seeding import seed_everything
from kuda_pipeline.training.stages import build_kuda, config_to_dict, kuda_config, train_fusion

WORLD_SIZE = 2
NO_DROPOUT = {"dropout": 0.0}
# dropout off everywhere, so that two processes and one compute the same function
ARCHITECTURE_NO_DROPOUT = {
    **ARCHITECTURE, **NO_DROPOUT, "text_adapter": {**NO_DROPOUT, "attention_dropout": 0.0},
    **{key: {**ARCHITECTURE[key], **NO_DROPOUT, "attention_dropout": 0.0}
       for key in ("vision_encoder", "audio_encoder", "vision_adapter", "audio_adapter")},
}
SPEC = SyntheticSpec(n_train=16, n_valid=7, n_test=4, text_length=16, vision_length=5, vision_dim=6,
                     audio_length=7, audio_dim=4, language="zh", seed=5)


def test_the_global_batch_must_divide_by_the_number_of_processes():
    assert per_rank_batch_size(32, Topology(1, 4, 1)) == 8
    with pytest.raises(ValueError, match=r"batch_size=6 is the GLOBAL batch .* processes \(4\): choose a multiple"):
        per_rank_batch_size(6, Topology(0, 4, 0))


def test_inference_shards_are_whole_global_batches_covering_every_row_once():
    shards = [BatchShard(7, 2, Topology(rank, 3, rank)) for rank in range(3)]
    assert [list(shard) for shard in shards] == [[[0, 1], [6]], [[2, 3]], [[4, 5]]]
    assert [shard.rows() for shard in shards] == [[0, 1, 6], [2, 3], [4, 5]]
    assert list(BatchShard(3, 4, Topology(1, 2, 1))) == []


def test_one_process_is_left_as_it_is():
    model = torch.nn.Linear(2, 1)
    assert distributed.wrap_model(model, torch.device("cpu"), Topology()) is model
    assert distributed.current_topology() == Topology() and distributed.is_main_process()


def test_resuming_needs_every_rank_to_see_the_checkpoint(tmp_path, monkeypatch):
    from kuda_pipeline.training import fit as fit_module

    monkeypatch.setattr(distributed, "gather_objects", lambda found, topology: [found, False])
    (tmp_path / CHECKPOINT_NAME).touch()
    with pytest.raises(ValueError, match=r"seen by ranks \[0\] only, not by ranks \[1\]: .* storage every node shares"):
        fit_module._checkpoint_found(tmp_path / CHECKPOINT_NAME, Topology(0, 2, 0))
    assert not fit_module._checkpoint_found(tmp_path / "absent.pt", Topology(0, 2, 0))


@pytest.fixture(scope="module")
def setting(tmp_path_factory) -> dict:
    """A tiny BERT without dropout, split arrays (16 train rows, 7 validation rows) and untrained stage-1 states."""
    bert_dir = tmp_path_factory.mktemp("bert_no_dropout")
    BertModel(BertConfig(vocab_size=30522, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=32, max_position_embeddings=64, hidden_dropout_prob=0.0,
                         attention_probs_dropout_prob=0.0)).save_pretrained(bert_dir)
    tokenizer = AutoTokenizer.from_pretrained(embedded_text_encoder_dir(), local_files_only=True)
    tokenizer.save_pretrained(bert_dir)
    raw, _ = generate_corpus(SPEC, tokenizer)
    arrays = {split: {key: np.asarray(values) for key, values in columns.items()}
              for split, columns in ingest_mmsa(raw, source="tiny.pkl", label_range=(-1.0, 1.0),
                                                 token_limits=read_token_limits(bert_dir)).splits.items()}
    config = kuda_config(ARCHITECTURE_NO_DROPOUT, arrays)
    torch.manual_seed(3)
    knowledge = {}
    for m in "tva":
        model = UnimodalKnowledgeModel(config, m, load_text_encoder(bert_dir) if m == "t" else None)
        knowledge[m] = {"config": config_to_dict(config), "state_dict": model.state_dict()}
    return {"bert_dir": bert_dir, "arrays": arrays, "knowledge": knowledge}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _sgd(model: torch.nn.Module, config: TrainConfig) -> torch.optim.SGD:
    """Plain SGD for the comparison with one process: Adam's normalisation would turn the float noise of summing a
    gradient in another order into a full step on elements whose gradient is about 0 (|g| ~ eps)."""
    return torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=config.learning_rate)


def _initial_model(setting: dict, train: TrainConfig) -> torch.nn.Module:
    seed_everything(train.seed)
    model = build_kuda(kuda_config(ARCHITECTURE_NO_DROPOUT, setting["arrays"]), setting["bert_dir"])
    model.load_knowledge({m: state["state_dict"] for m, state in setting["knowledge"].items()})
    return model.freeze_knowledge()


def _stage2_with_sgd(setting: dict, loaders) -> tuple[dict, list[dict]]:
    """``train_fusion``'s steps (seeded build, stage-1 knowledge loaded and frozen, ``fit``) with :func:`_sgd`."""
    arrays, train = setting["arrays"], TrainConfig.from_dict({**TRAIN, "batch_size": 8, "learning_rate": 0.05})
    model = _initial_model(setting, train)
    result = fit(model, *loaders(arrays, train), fusion_step, stages._metric_fn("sims"), train,
                 optimizer_factory=_sgd)
    return model.state_dict(), result.history


def _rank_process(rank: int, port: int, setting: dict, out: Path, results: Path) -> None:
    """One torchrun-like process (RANK, WORLD_SIZE... in the environment): stage 2 with SGD on this rank's shards,
    then with ``train_fusion`` (AdamW, checkpoints) twice without a stop and once stopped and resumed. What it
    trained goes to ``results`` (the harness's folder; ``out`` is the run's)."""
    import os

    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(WORLD_SIZE), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(1)
    trained = {"sgd": _stage2_with_sgd(setting, stages._loaders)}
    bert_dir, arrays, knowledge = setting["bert_dir"], setting["arrays"], setting["knowledge"]
    two = TrainConfig.from_dict({**TRAIN, "batch_size": 8, "epochs": 2})
    for name in ("full", "repeated"):
        seed_everything(0)
        result, _ = train_fusion(arrays, knowledge, ARCHITECTURE_NO_DROPOUT, bert_dir, two, "sims",
                                 checkpoint_dir=out / f"rank{rank}" / name)
        trained[name] = (result.state["state_dict"], result.history)
    calls = []

    def stops_in_epoch_2(model, batch):
        if model.training:
            calls.append(None)
            if len(calls) == 3:  # epoch 2's first step (two steps per epoch), on both ranks
                raise KeyboardInterrupt
        return fusion_step(model, batch)

    stages.fusion_step = stops_in_epoch_2
    seed_everything(0)
    try:
        train_fusion(arrays, knowledge, ARCHITECTURE_NO_DROPOUT, bert_dir, two, "sims", checkpoint_dir=out / "stopped")
    except KeyboardInterrupt:
        pass
    stages.fusion_step = fusion_step
    resumed, _ = train_fusion(arrays, knowledge, ARCHITECTURE_NO_DROPOUT, bert_dir,
                              dataclasses.replace(two, resume=True), "sims", checkpoint_dir=out / "stopped")
    trained["resumed"] = (resumed.state["state_dict"], resumed.history)
    torch.save(trained, results / f"rank{rank}.pt")
    distributed.leave_process_group()


def _one_process_loaders(arrays: dict, train: TrainConfig):
    """The two processes' data order in one process: the same ``DistributedSampler`` permutation, whole batches."""
    return distributed.sharded_loaders(arrays["train"], arrays["valid"], train.batch_size, train.seed, Topology())


def _assert_same_weights(actual: dict, expected: dict, atol: float) -> None:
    assert actual.keys() == expected.keys()
    for name, tensor in expected.items():
        torch.testing.assert_close(actual[name], tensor, atol=atol, rtol=0, msg=lambda text: f"{name}: {text}")


@pytest.mark.slow
def test_two_gloo_processes_train_stage_2_like_one_process_and_only_rank_0_writes(setting, tmp_path):
    out, harness = tmp_path / "run", tmp_path / "harness"
    harness.mkdir()
    mp.spawn(_rank_process, args=(_free_port(), setting, out, harness), nprocs=WORLD_SIZE, join=True)
    ranks = [torch.load(harness / f"rank{rank}.pt", weights_only=True) for rank in range(WORLD_SIZE)]
    weights, history = _stage2_with_sgd(setting, _one_process_loaders)

    # one epoch: the same loss, metrics and weights as one process with the whole batch
    (row,) = ranks[0]["sgd"][1]
    (expected,) = history
    assert row.keys() == expected.keys()
    np.testing.assert_allclose([row[key] for key in expected], list(expected.values()), rtol=1e-5, atol=1e-6)
    _assert_same_weights(ranks[0]["sgd"][0], weights, atol=1e-5)
    initial = _initial_model(setting, TrainConfig.from_dict(TRAIN)).state_dict()
    assert (weights["head.2.weight"] - initial["head.2.weight"]).abs().max() > 1e-3  # the epoch did train

    # the replicas stay identical; every rank reports the same history
    for name in ("sgd", "full", "resumed"):
        _assert_same_weights(ranks[1][name][0], ranks[0][name][0], atol=0.0)
        assert ranks[1][name][1] == ranks[0][name][1]

    # rank 1 wrote nothing; rank 0's checkpoint holds both ranks' RNG states
    assert (out / "rank0" / "full" / CHECKPOINT_NAME).is_file() and not (out / "rank1").exists()
    assert len(torch.load(out / "stopped" / CHECKPOINT_NAME, weights_only=True)["rank_rng"]) == WORLD_SIZE

    # two runs agree; resuming under DDP continues exactly where the stopped run was
    for name in ("repeated", "resumed"):
        assert ranks[0][name][1] == ranks[0]["full"][1]
        _assert_same_weights(ranks[0][name][0], ranks[0]["full"][0], atol=0.0)
