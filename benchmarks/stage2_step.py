"""Benchmark one stage-2 KuDA training step (forward, backward, AdamW step) at CH-SIMS shapes.

A bert-base-shaped random BERT (Chinese vocabulary size), d_v = d_a = 128 encoders, 3 fusion blocks at
d_f = 256, batch 32; reports the median step time, samples/s, FLOPs per step (FlopCounterMode,
forward + backward), achieved FLOP/s beside a 2048 x 2048 fp32 matmul measured in the same run, and
peak memory. Usage:

    python benchmarks/stage2_step.py                      # CPU, fp32, 2 threads
    python benchmarks/stage2_step.py --device cuda --dtype bf16
    python benchmarks/stage2_step.py --profile            # also the top operators of one step
    python benchmarks/stage2_step.py --lengths mosi       # valid lengths drawn from a dataset profile

`--lengths` picks the valid lengths of the batch: "uniform" (each sample and modality uniform in
1..L_m) or a realistic profile per dataset ("sims", "mosi", "mosei"; `length_profiles.py` states the
published statistics each comes from). The shapes stay CH-SIMS's, so every profile is comparable.
`--grouped` takes instead the lengths of a typical batch of length-grouped training (`--group-by-length`
of the training config). `benchmarks/stage2_compare.py` runs every profile, with and without attention dropout, for two source
trees (before/after a change) in alternation and prints one table.

The default optimiser is the fused `torch.optim.AdamW`, as the training loop builds it (one pass over
memory); `--optimizer adamw` uses the per-parameter loop instead (same update).

On a machine shared with other processes, OpenMP's default busy-waiting makes 2-thread steps several
times slower; run with `OMP_WAIT_POLICY=PASSIVE` there (it must be set before Python starts). The
one-thread CPU time per step (`--threads 1`, `step_cpu_seconds`) hardly depends on the load.
"""

from __future__ import annotations

import argparse
import dataclasses
import contextlib
import json
import logging
import os
import resource
import statistics
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode
from transformers import BertConfig, BertModel

from length_profiles import PROFILE_NAMES, sample_grouped_lengths, sample_lengths

from kuda_pipeline.data.dataset import Batch, padding_mask
from kuda_pipeline.model.config import AdapterConfig, KudaConfig, SequenceEncoderConfig
from kuda_pipeline.model.kuda import KuDA
from kuda_pipeline.model.objectives import fusion_step

logger = logging.getLogger("stage2_step")

TEXT_LENGTH, VISION_SHAPE, AUDIO_SHAPE = 39, (55, 709), (400, 33)
BERT_BASE = dict(
    hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072, vocab_size=21128
)


# (dropout, attention-probability dropout) of the vision/audio encoders and of the adapters, and whether the
# frozen adapters run in training mode in stage 2. Set explicitly, so that trees with other defaults run
# the same math.
DROPOUTS = {
    "authors": ((0.2, 0.2), (0.1, 0.1), True),  # the public code (docs/fidelity.md)
    "no-attention": ((0.1, 0.0), (0.1, 0.0), False),  # main's default before issue 9: no attention dropout
}


def build_model(
    dropouts: str, text_length: int = TEXT_LENGTH, vision_shape=VISION_SHAPE, audio_shape=AUDIO_SHAPE,
    length_buckets: int | None = None,
) -> KuDA:
    """KuDA (CH-SIMS shapes by default) on a random bert-base-shaped BERT, knowledge frozen as in stage 2.

    `length_buckets`: the model option where the tree has it (None: the tree's default)."""
    (encoder_dropout, encoder_attention), (adapter_dropout, adapter_attention), adapters_train = DROPOUTS[dropouts]
    encoder = SequenceEncoderConfig(dropout=encoder_dropout, attention_dropout=encoder_attention)

    def adapter(blocks: int | None) -> AdapterConfig:
        return AdapterConfig(num_blocks=blocks, dropout=adapter_dropout, attention_dropout=adapter_attention)

    options = {f.name for f in dataclasses.fields(KudaConfig)}
    config = KudaConfig(
        text_length=text_length,
        vision_length=vision_shape[0],
        vision_dim=vision_shape[1],
        audio_length=audio_shape[0],
        audio_dim=audio_shape[1],
        vision_encoder=encoder,
        audio_encoder=encoder,
        text_adapter=adapter(None),
        vision_adapter=adapter(3),
        audio_adapter=adapter(3),
        **({"frozen_adapter_dropout": adapters_train} if "frozen_adapter_dropout" in options else {}),
        **({"length_buckets": length_buckets} if length_buckets is not None and "length_buckets" in options else {}),
    )
    return KuDA(config, BertModel(BertConfig(**BERT_BASE))).freeze_knowledge()


def set_frozen_adapters_mode(model: KuDA, dropouts: str) -> None:
    """Frozen adapters in training mode for "authors" (trees without `frozen_adapter_dropout` keep them in eval)."""
    for encoder in model.knowledge.values():
        encoder.adapter.train(DROPOUTS[dropouts][2])


def random_batch(
    batch_size: int, generator: torch.Generator, profile: str = "uniform", grouped: bool = False
) -> Batch:
    """Random inputs with valid lengths drawn from `profile` (at least one valid step per modality); with
    `grouped`, the lengths of a typical length-grouped batch (`sample_grouped_lengths`)."""
    sample = sample_grouped_lengths if grouped else sample_lengths
    text_lengths, vision_lengths, audio_lengths = sample(
        profile, batch_size, (TEXT_LENGTH, VISION_SHAPE[0], AUDIO_SHAPE[0]), generator
    )
    text_valid = padding_mask(text_lengths, TEXT_LENGTH)  # (B, L_t)
    token_ids = torch.randint(1, BERT_BASE["vocab_size"], (batch_size, TEXT_LENGTH), generator=generator)
    text = torch.stack([token_ids * text_valid, text_valid.long(), torch.zeros_like(token_ids)], dim=1)  # (B, 3, L_t)
    return Batch(
        text=text,
        vision=torch.randn(batch_size, *VISION_SHAPE, generator=generator),
        vision_mask=padding_mask(vision_lengths, VISION_SHAPE[0]),
        audio=torch.randn(batch_size, *AUDIO_SHAPE, generator=generator),
        audio_mask=padding_mask(audio_lengths, AUDIO_SHAPE[0]),
        label=torch.rand(batch_size, generator=generator) * 2 - 1,
        index=torch.arange(batch_size),
    )


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def autocast(device: torch.device, dtype: str) -> contextlib.AbstractContextManager:
    """bf16 autocast on `device` for dtype "bf16", else nothing."""
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16) if dtype == "bf16" else contextlib.nullcontext()


def train_step(model: KuDA, batch: Batch, optimizer: torch.optim.Optimizer, dtype: str) -> None:
    optimizer.zero_grad(set_to_none=True)
    with autocast(batch.label.device, dtype):
        loss = fusion_step(model, batch).loss
    loss.backward()
    optimizer.step()


def process_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def step_seconds(
    model: KuDA, batch: Batch, optimizer: torch.optim.Optimizer, args: argparse.Namespace
) -> tuple[list[float], list[float]]:
    """Wall and process CPU time of `args.steps` training steps after `args.warmup` warm-up steps.

    With one thread, CPU time hardly depends on other processes' load; wall time does.
    """
    device = torch.device(args.device)
    for _ in range(args.warmup):
        train_step(model, batch, optimizer, args.dtype)
    synchronize(device)
    wall, cpu = [], []
    for _ in range(args.steps):
        start, start_cpu = time.perf_counter(), process_cpu_seconds()
        train_step(model, batch, optimizer, args.dtype)
        synchronize(device)
        wall.append(time.perf_counter() - start)
        cpu.append(process_cpu_seconds() - start_cpu)
    return wall, cpu


def step_flops(model: KuDA, batch: Batch, dtype: str) -> int:
    """FLOPs of one forward + backward (matmuls, attention, convolutions; FlopCounterMode's coverage)."""
    counter = FlopCounterMode(display=False)
    with counter:
        with autocast(batch.label.device, dtype):
            loss = fusion_step(model, batch).loss
        loss.backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def matmul_flops_per_second(device: torch.device, dtype: str, size: int = 2048, repeats: int = 10) -> tuple[float, float]:
    """FLOP/s of a size x size matmul in the benchmark's dtype: per wall second (median) and per CPU second."""
    torch_dtype = torch.bfloat16 if dtype == "bf16" else torch.float32
    a = torch.randn(size, size, device=device, dtype=torch_dtype)
    b = torch.randn(size, size, device=device, dtype=torch_dtype)
    a @ b
    times = []
    start_cpu = process_cpu_seconds()
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        a @ b
        synchronize(device)
        times.append(time.perf_counter() - start)
    flops = 2 * size**3
    return flops / statistics.median(times), flops * repeats / (process_cpu_seconds() - start_cpu)


def top_operators(model: KuDA, batch: Batch, optimizer: torch.optim.Optimizer, dtype: str, rows: int = 20) -> str:
    """Table of the operators taking the most self time in one training step."""
    activities = [torch.profiler.ProfilerActivity.CPU]
    if torch.device(batch.label.device).type == "cuda":
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    with torch.profiler.profile(activities=activities) as profiler:
        train_step(model, batch, optimizer, dtype)
    sort_by = "self_cuda_time_total" if len(activities) > 1 else "self_cpu_time_total"
    return profiler.key_averages().table(sort_by=sort_by, row_limit=rows)


def peak_memory_bytes(device: torch.device) -> dict[str, int]:
    """Peak resident set size of the process so far, and on CUDA the peak allocated device memory."""
    memory = {"peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}
    if device.type == "cuda":
        memory["peak_cuda_allocated_bytes"] = torch.cuda.max_memory_allocated(device)
    return memory


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--dtype", default="fp32", choices=["fp32", "bf16"], help="bf16: autocast on the device")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--steps", type=int, default=3, help="timed steps (the median is reported)")
    parser.add_argument(
        "--dropouts",
        default="no-attention",
        choices=sorted(DROPOUTS),
        help="authors: the public code's dropouts, attention probabilities included, frozen adapters in training "
        "mode; no-attention: no attention-probability dropout, frozen adapters in eval mode",
    )
    parser.add_argument("--lengths", default="uniform", choices=PROFILE_NAMES, help="valid-length distribution")
    parser.add_argument("--grouped", action="store_true", help="a typical length-grouped batch of the profile")
    parser.add_argument("--length-buckets", type=int, help="model.architecture.length_buckets (default: the tree's)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the model first")
    parser.add_argument("--optimizer", default="adamw-fused", choices=["adamw", "adamw-fused"])
    parser.add_argument("--profile", action="store_true", help="also log the top operators of one step")
    parser.add_argument("--skip-flops", action="store_true", help="skip the FLOP count and the matmul reference")
    parser.add_argument("--output", type=Path, help="write the figures as JSON to this file")
    args = parser.parse_args()
    if args.steps < 3:
        parser.error(f"--steps must be >= 3 for a median, got {args.steps}")
    return args


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    model = build_model(args.dropouts, length_buckets=args.length_buckets).to(device).train()
    set_frozen_adapters_mode(model, args.dropouts)
    if args.compile:
        model = torch.compile(model)
    batch = random_batch(args.batch_size, torch.Generator().manual_seed(0), args.lengths, args.grouped).to(device)
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad],
        lr=3e-5,
        weight_decay=1e-5,
        fused=True if args.optimizer == "adamw-fused" else None,
    )

    times, cpu_times = step_seconds(model, batch, optimizer, args)
    memory = peak_memory_bytes(device)
    seconds = statistics.median(times)
    figures = {
        "device": args.device,
        "dtype": args.dtype,
        "threads": args.threads,
        "batch_size": args.batch_size,
        "optimizer": args.optimizer,
        "dropouts": args.dropouts,
        "lengths": args.lengths,
        "grouped": args.grouped,
        "compiled": args.compile,
        "length_buckets": getattr(model.config, "length_buckets", None),
        "mean_valid_lengths": [float(x) for x in (batch.text[:, 1].sum(1).float().mean(),
                                                   batch.vision_mask.sum(1).float().mean(),
                                                   batch.audio_mask.sum(1).float().mean())],
        "max_valid_lengths": [int(x) for x in (batch.text[:, 1].sum(1).max(),
                                               batch.vision_mask.sum(1).max(), batch.audio_mask.sum(1).max())],
        "trainable_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "step_seconds": times,
        "median_step_seconds": seconds,
        "min_step_seconds": min(times),
        "step_cpu_seconds": cpu_times,
        "load_average_1min": os.getloadavg()[0],
        "samples_per_second": args.batch_size / seconds,
        "median_step_cpu_seconds": statistics.median(cpu_times),
        **memory,
    }
    if not args.skip_flops:
        flops = step_flops(model, batch, args.dtype)
        matmul_wall, matmul_cpu = matmul_flops_per_second(device, args.dtype)
        figures.update(
            gflop_per_step=flops / 1e9,
            achieved_gflop_per_second=flops / seconds / 1e9,
            matmul_2048_gflop_per_second=matmul_wall / 1e9,
            gflop_per_cpu_second=flops / statistics.median(cpu_times) / 1e9,
            matmul_2048_gflop_per_cpu_second=matmul_cpu / 1e9,
        )
    for name, value in figures.items():
        logger.info("%-30s %s", name, value)
    if args.profile:
        logger.info("%s", top_operators(model, batch, optimizer, args.dtype))
    if args.output:
        args.output.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
