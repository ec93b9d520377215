"""Stage-2 step of two source trees in ONE process, steps alternated: a speed ratio that the machine's load hardly moves.

On a shared machine the CPU seconds of a step drift by ±15 % within minutes (other tenants' memory
traffic), so two trees measured in separate processes, minutes apart, give ratios that move from run to
run. Here both trees' models (`stage2_step.build_model`, one thread) live in one process, on the same
batch, and their steps alternate (before, after; then after, before; ...), so a slow minute slows both.
The ratio reported is the sum of the before tree's step CPU seconds over the after tree's. Peak memory is
the process's, both models together: take each tree's from `stage2_compare.py` (one process per run).

    python benchmarks/stage2_interleaved.py --before ../perf-before/src --after src --lengths uniform sims
"""

from __future__ import annotations

import argparse
import importlib
import resource
import statistics
import sys
from pathlib import Path
from types import ModuleType

import torch

from length_profiles import PROFILE_NAMES

BENCHMARKS = str(Path(__file__).resolve().parent)


def load_tree(source: Path) -> ModuleType:
    """`stage2_step` bound to the `kuda_pipeline` of `source` (the modules of an earlier tree stay alive in its objects)."""
    for name in [name for name in sys.modules if name.split(".")[0] in ("kuda_pipeline", "stage2_step")]:
        del sys.modules[name]
    sys.path[:0] = [str(source.resolve()), BENCHMARKS]
    try:
        return importlib.import_module("stage2_step")
    finally:
        del sys.path[:2]


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def compare(trees: dict[str, Path], lengths: str, dropouts: str, rounds: int) -> dict[str, list[float]]:
    """CPU seconds of `rounds` steps per tree, the trees alternated step by step (after one warm-up step each)."""
    runs = {}
    for label, source in trees.items():
        step = load_tree(source)
        torch.manual_seed(0)
        model = step.build_model(dropouts).train()
        step.set_frozen_adapters_mode(model, dropouts)
        batch = step.random_batch(32, torch.Generator().manual_seed(0), lengths)
        trainable = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(trainable, lr=3e-5, weight_decay=1e-5, fused=True)
        runs[label] = (step, model, batch, optimizer)
        step.train_step(model, batch, optimizer, "fp32")  # warm-up
    seconds = {label: [] for label in trees}
    order = list(trees)
    for round_ in range(rounds):
        for label in order if round_ % 2 == 0 else order[::-1]:
            step, model, batch, optimizer = runs[label]
            start = cpu_seconds()
            step.train_step(model, batch, optimizer, "fp32")
            seconds[label].append(cpu_seconds() - start)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", type=Path, required=True, help="src directory of the tree before the change")
    parser.add_argument("--after", type=Path, required=True, help="src directory of the tree after the change")
    parser.add_argument("--lengths", nargs="+", default=list(PROFILE_NAMES), choices=PROFILE_NAMES)
    parser.add_argument("--dropouts", default="authors", choices=("authors", "no-attention"))
    parser.add_argument("--rounds", type=int, default=4, help="steps per tree, alternated")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print("| lengths | before CPU s (median) | after CPU s (median) | before / after (sums) |")
    print("|---|---|---|---|")
    for lengths in args.lengths:
        seconds = compare({"before": args.before, "after": args.after}, lengths, args.dropouts, args.rounds)
        before, after = seconds["before"], seconds["after"]
        print(f"| {lengths} | {statistics.median(before):.2f} | {statistics.median(after):.2f} "
              f"| {sum(before) / sum(after):.2f}x |", flush=True)


if __name__ == "__main__":
    main()
