"""Scale-out figures on this machine (a script, not a test): the experiment grid one cell after another vs on a
local Ray with 2 workers (wall time, cells per hour), and one stage-2 epoch with 1 vs 2 data-parallel gloo
processes (samples per second, global batch fixed).

Both run on an in-memory CH-SIMS-like synthetic corpus (`--n-train` rows, CH-SIMS shapes: text 39, vision 55 x 709,
audio 400 x 33) with the embedded tokenizer and a random BERT of `--bert-layers` layers (hidden 128), untrained
stage-1 checkpoints and the reduced grid's variants (KuDA, w/o DAF, Concatenation) x `--seeds` seeds. One torch
thread per process (OMP_NUM_THREADS=1), as the project's benchmarks do. Usage:

    OMP_NUM_THREADS=1 python benchmarks/scale_out.py                 # both figures, JSON on stdout
    OMP_NUM_THREADS=1 python benchmarks/scale_out.py --only ddp
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.multiprocessing as mp
from transformers import AutoTokenizer, BertConfig, BertModel

from kuda_pipeline.data.mmsa import ingest_mmsa
from kuda_pipeline.data.synthetic import SyntheticSpec, generate_corpus
from kuda_pipeline.experiments import CellSpec, DatasetInputs, parse_variants, run_grid_cells
from kuda_pipeline.model.knowledge import UnimodalKnowledgeModel
from kuda_pipeline.model.text_encoder import embedded_text_encoder_dir, load_text_encoder, read_token_limits
from kuda_pipeline.training import distributed
from kuda_pipeline.training.config import TrainConfig
from kuda_pipeline.training.seeding import seed_everything
from kuda_pipeline.training.stages import config_to_dict, kuda_config, train_fusion

SEQUENCE = {"hidden_size": 32, "num_layers": 2, "num_heads": 2, "ffn_size": 64}
ADAPTER = {"num_blocks": 2, "num_heads": 2, "num_layers": 1}
ARCHITECTURE = dict(text_injection_layers=[1, 2], vision_encoder=SEQUENCE, audio_encoder=SEQUENCE,
                    text_adapter=ADAPTER, vision_adapter=ADAPTER, audio_adapter=ADAPTER, fusion_dim=64,
                    fusion_blocks=1, fusion_heads=2, fusion_head_dim=32, fusion_ffn_size=64, head_hidden_sizes=[32])
VARIANTS = {"KuDA": {}, "w/o DAF": {"architecture": {"fusion": "add"}},
            "Concatenation": {"architecture": {"fusion": "concat"}}}


def setting(n_train: int, bert_layers: int, directory: Path) -> dict:
    tokenizer = AutoTokenizer.from_pretrained(embedded_text_encoder_dir(), local_files_only=True)
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=128, num_hidden_layers=bert_layers,
                         num_attention_heads=2, intermediate_size=256, max_position_embeddings=64)
              ).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    spec = SyntheticSpec(n_train=n_train, n_valid=n_train // 4, n_test=n_train // 4, text_length=39,
                         vision_length=55, vision_dim=709, audio_length=400, audio_dim=33, language="zh", seed=1)
    raw, _ = generate_corpus(spec, tokenizer)
    arrays = ingest_mmsa(raw, source="bench.pkl", label_range=(-1.0, 1.0),
                         token_limits=read_token_limits(directory)).splits
    arrays = {split: {key: np.array(values) for key, values in columns.items()} for split, columns in arrays.items()}
    config = kuda_config(ARCHITECTURE, arrays)
    knowledge = {m: {"config": config_to_dict(config), "modality": m,
                     "state_dict": UnimodalKnowledgeModel(config, m, load_text_encoder(directory) if m == "t"
                                                          else None).state_dict()} for m in "tva"}
    return {"arrays": arrays, "knowledge": knowledge, "bert_dir": str(directory)}


def grid_figure(data: dict, seeds: int, epochs: int) -> dict:
    from kuda_pipeline.experiments.ray_cells import RayCellExecutor
    from kuda_pipeline.experiments.ray_settings import RaySettings

    train = {"epochs": epochs, "batch_size": 32, "learning_rate": 2e-4, "device": "cpu", "seed": 0}
    inputs = DatasetInputs(dataset="bench", arrays=data["arrays"], knowledge=data["knowledge"],
                           architecture=ARCHITECTURE, text_encoder=data["bert_dir"],
                           text_encoder_dir=Path(data["bert_dir"]), train=train, scheme="sims",
                           evaluation={"split": "test", "batch_size": 64, "device": "cpu"})
    variants = parse_variants(VARIANTS)
    cells = [CellSpec("bench", variant, seed) for variant in variants.values() for seed in range(seeds)]
    figures = {}
    for name, execute in (("sequential", None), ("ray_2_workers", RayCellExecutor(RaySettings(num_cpus=2)))):
        start = time.perf_counter()
        run = run_grid_cells(cells, inputs, {}, done={}, **({"execute": execute} if execute else {}))
        seconds = time.perf_counter() - start
        figures[name] = {"cells": len(run.cells), "wall_s": round(seconds, 1),
                         "cells_per_hour": round(3600 * len(run.cells) / seconds, 1),
                         "MAE": [round(cell.test_metrics["MAE"], 6) for cell in run.cells]}
    figures["speed-up"] = round(figures["sequential"]["wall_s"] / figures["ray_2_workers"]["wall_s"], 2)
    figures["same_results"] = figures["sequential"]["MAE"] == figures["ray_2_workers"]["MAE"]
    return figures


def _ddp_rank(rank: int, world_size: int, port: int, data: dict, epochs: int, out: str) -> None:
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world_size), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(1)
    train = TrainConfig.from_dict({"epochs": epochs, "batch_size": 32, "learning_rate": 2e-4, "device": "cpu",
                                   "seed": 0})
    distributed.join_process_group(torch.device("cpu"))
    if world_size > 1:
        torch.distributed.barrier()  # both processes started: time the training, not the start-up
    seed_everything(0)
    start = time.perf_counter()
    train_fusion(data["arrays"], data["knowledge"], ARCHITECTURE, data["bert_dir"], train, "sims")
    seconds = time.perf_counter() - start
    if rank == 0:
        Path(out).write_text(json.dumps({"seconds": seconds}))
    distributed.leave_process_group()


def ddp_figure(data: dict, epochs: int) -> dict:
    samples = epochs * len(data["arrays"]["train"]["label"])
    figures = {}
    for world_size in (1, 2):
        with socket.socket() as probe, tempfile.TemporaryDirectory() as scratch:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
            probe.close()
            out = str(Path(scratch) / "rank0.json")
            mp.spawn(_ddp_rank, args=(world_size, port, data, epochs, out), nprocs=world_size, join=True)
            seconds = json.loads(Path(out).read_text())["seconds"]
        figures[f"{world_size}_process"] = {"train_s": round(seconds, 1),
                                            "samples_per_s": round(samples / seconds, 1)}
    figures["speed-up"] = round(figures["2_process"]["samples_per_s"] / figures["1_process"]["samples_per_s"], 2)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", choices=("grid", "ddp"))
    parser.add_argument("--n-train", type=int, default=128)
    parser.add_argument("--bert-layers", type=int, default=2)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    with tempfile.TemporaryDirectory() as directory:
        data = setting(args.n_train, args.bert_layers, Path(directory))
        report = {"setting": vars(args), "cpus": os.cpu_count(), "omp_threads": os.environ.get("OMP_NUM_THREADS")}
        if args.only in (None, "grid"):
            report["grid"] = grid_figure(data, args.seeds, args.epochs)
        if args.only in (None, "ddp"):
            report["ddp"] = ddp_figure(data, args.epochs)
    json.dump(report, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
