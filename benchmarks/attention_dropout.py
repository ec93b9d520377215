"""Attention with attention-probability dropout on CPU: the options side by side, forward + backward.

At the audio encoder's shape (batch 32, 8 heads, 400 steps, head size 16, random key padding,
dropout 0.2), one process per option so that each peak RSS is its own; one thread. Options:

- `sdpa-math`: `F.scaled_dot_product_attention(dropout_p=0.2)`, PyTorch's math path (what main did);
- `tiles-2^E`: `model.attention.ChunkedDropoutAttention` over tiles of about 2^E probabilities (the default is
  `TILE_ELEMENTS`; 2^26 is the whole map in one tile), backward recomputing;
- `sdpa-no-dropout`: the fused kernel without dropout, a floor that is NOT the same math.

    python benchmarks/attention_dropout.py
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

from kuda_pipeline.model.attention import ChunkedDropoutAttention

OPTIONS = ("sdpa-math", "tiles-2^16", "tiles-2^17", "tiles-2^18", "tiles-2^19", "tiles-2^26", "sdpa-no-dropout")
BATCH, HEADS, LENGTH, HEAD_DIM, DROPOUT = 32, 8, 400, 16, 0.2


def run_option(option: str, repeats: int) -> dict:
    """Median CPU seconds of forward + backward and this process's peak RSS."""
    torch.set_num_threads(1)
    generator = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(BATCH, HEADS, LENGTH, HEAD_DIM, generator=generator, requires_grad=True) for _ in range(3))
    lengths = torch.randint(1, LENGTH + 1, (BATCH,), generator=generator)
    keep = (torch.arange(LENGTH) < lengths[:, None])[:, None, None, :]  # (B, 1, 1, L)
    bias = torch.zeros(keep.shape).masked_fill(~keep, float("-inf"))

    def step() -> None:
        if option == "sdpa-math":
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=keep, dropout_p=DROPOUT)
        elif option == "sdpa-no-dropout":
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=keep)
        else:
            out = ChunkedDropoutAttention.apply(q, k, v, bias, DROPOUT, 7, 2 ** int(option.split("^")[1]))
        out.sum().backward()

    step()
    seconds = []
    for _ in range(repeats):
        usage = resource.getrusage(resource.RUSAGE_SELF)
        start = usage.ru_utime + usage.ru_stime
        step()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        seconds.append(usage.ru_utime + usage.ru_stime - start)
    return {"option": option, "cpu_seconds": statistics.median(seconds),
            "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--option", choices=OPTIONS, help="run one option in this process (used internally)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.option:
        print(json.dumps(run_option(args.option, args.repeats)))
        return
    rows = []
    for option in OPTIONS:
        result = subprocess.run([sys.executable, __file__, "--option", option, "--repeats", str(args.repeats)],
                                check=True, capture_output=True, text=True)
        rows.append(json.loads(result.stdout.strip().splitlines()[-1]))
    reference = rows[0]["cpu_seconds"]
    print("| option | CPU s (forward + backward) | vs sdpa-math | peak RSS GB |")
    print("|---|---|---|---|")
    for row in rows:
        print(f"| {row['option']} | {row['cpu_seconds']:.2f} | {reference / row['cpu_seconds']:.2f}x "
              f"| {row['peak_rss_bytes'] / 1e9:.2f} |")


if __name__ == "__main__":
    main()
