"""Benchmark one stage-2 training epoch at the size of CH-SIMS (1,368 training samples) or CMU-MOSEI (16,326).

Data loading included: the split arrays are written to a temporary directory in the pipeline's format
and read memory-mapped through `make_loader` (optionally with worker processes; pinned memory on
CUDA), and every batch goes through the training loop's `run_epoch` with `fusion_step`, fused AdamW.
Valid lengths follow a length profile (`length_profiles.py`, default: the dataset's own); the feature
values are zeros (sparse files; the time of a step does not depend on them), token ids random.

    python benchmarks/epoch.py --size sims                          # a whole epoch
    python benchmarks/epoch.py --size mosei --max-steps 20          # 20 steps, epoch time extrapolated
    python benchmarks/epoch.py --size sims --group-by-length --dropouts no-attention

With `--max-steps`, one warm-up step runs first and the epoch figures are EXTRAPOLATED: the mean time
of the measured steps times the number of batches of the epoch (`extrapolated: true` in the output).
CPU seconds are those of this process (`--workers 0` keeps all the work in it); peak RSS includes the
memory-mapped pages the batches touched. The training loop sets the frozen adapters' mode from the
model config (`frozen_adapter_dropout`); a tree without that option keeps them in eval mode.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from length_profiles import PROFILE_NAMES, sample_lengths
from stage2_step import BERT_BASE, DROPOUTS, build_model

from kuda_pipeline.data.dataset import make_loader
from kuda_pipeline.data.split_arrays import load_split_arrays
from kuda_pipeline.model.objectives import fusion_step
from kuda_pipeline.training.loop import run_epoch

logger = logging.getLogger("epoch")

SIZES = {  # training samples, text length, (L_v, D_v), (L_a, D_a) of the MMSA unaligned pickles
    "sims": (1368, 39, (55, 709), (400, 33)),
    "mosei": (16326, 50, (500, 35), (500, 74)),
}


def write_split(directory: Path, size: str, profile: str, seed: int = 0) -> Path:
    """Training split arrays of `size` with lengths from `profile`, as `<directory>/train/<key>.npy`."""
    samples, text_length, vision_shape, audio_shape = SIZES[size]
    generator = torch.Generator().manual_seed(seed)
    text, vision, audio = (
        x.numpy() for x in sample_lengths(profile, samples, (text_length, vision_shape[0], audio_shape[0]), generator)
    )
    split = directory / "train"
    split.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    text_valid = np.arange(text_length) < text[:, None]  # (N, L_t)
    ids = rng.integers(1, BERT_BASE["vocab_size"], (samples, text_length)) * text_valid
    np.save(split / "text_bert", np.stack([ids, text_valid, np.zeros_like(ids)], axis=1).astype(np.int64))
    for name, shape in (("vision", vision_shape), ("audio", audio_shape)):
        np.lib.format.open_memmap(split / f"{name}.npy", mode="w+", dtype=np.float32, shape=(samples, *shape)).flush()
    np.save(split / "vision_lengths", vision)
    np.save(split / "audio_lengths", audio)
    np.save(split / "label", rng.uniform(-1, 1, samples).astype(np.float32))
    return directory


def process_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="sims", choices=sorted(SIZES))
    parser.add_argument("--lengths", choices=PROFILE_NAMES, help="length profile (default: the --size dataset's)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--dropouts", default="authors", choices=sorted(DROPOUTS), help="as in stage2_step.py")
    parser.add_argument("--group-by-length", action="store_true", help="length-grouped batches")
    parser.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    parser.add_argument("--max-steps", type=int, help="measure this many steps and extrapolate to the epoch")
    parser.add_argument("--output", type=Path, help="write the figures as JSON to this file")
    return parser.parse_args()


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    profile = args.lengths or args.size
    device = torch.device(args.device)
    _, text_length, vision_shape, audio_shape = SIZES[args.size]
    model = build_model(args.dropouts, text_length, vision_shape, audio_shape).to(device)
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=3e-5, weight_decay=1e-5, fused=True
    )
    options = {}  # only what differs from make_loader's defaults, so that older trees run it too
    if args.group_by_length:
        options["group_by_length"] = True
    if args.workers:
        options["num_workers"] = args.workers
    if device.type == "cuda":
        options["pin_memory"] = True
    with tempfile.TemporaryDirectory() as directory:
        arrays = load_split_arrays(write_split(Path(directory) / "arrays", args.size, profile))["train"]
        loader = make_loader(arrays, args.batch_size, shuffle=True, seed=0, **options)
        batches = len(loader)
        steps = batches if args.max_steps is None else min(args.max_steps, batches)
        if args.max_steps is not None:  # warm-up step, outside the measurement
            run_epoch(model, itertools.islice(loader, 1), fusion_step, optimizer, device=device)
        start, start_cpu = time.perf_counter(), process_cpu_seconds()
        run_epoch(model, itertools.islice(loader, steps), fusion_step, optimizer, device=device)
        wall, cpu = time.perf_counter() - start, process_cpu_seconds() - start_cpu
        del loader
    scale = batches / steps
    figures = {
        "size": args.size,
        "training_samples": SIZES[args.size][0],
        "lengths": profile,
        "dropouts": args.dropouts,
        "group_by_length": args.group_by_length,
        "workers": args.workers,
        "threads": args.threads,
        "device": args.device,
        "batches_per_epoch": batches,
        "measured_steps": steps,
        "extrapolated": steps < batches,
        "epoch_seconds": wall * scale,
        "epoch_cpu_seconds": cpu * scale,
        "step_cpu_seconds_mean": cpu / steps,
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }
    if device.type == "cuda":
        figures["peak_cuda_allocated_bytes"] = torch.cuda.max_memory_allocated(device)
    for name, value in figures.items():
        logger.info("%-24s %s", name, value)
    if args.output:
        args.output.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
