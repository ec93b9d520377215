"""Throughput of `Seq2SeqTranslator` on CPU with the tiny random MarianMT model of the tests.

The model (1 layer, d_model 16) is so small that the figure measures the translator's own
overhead: tokenisation, batching, the `generate` loop and decoding. Run from the repository root:

    python benchmarks/translation.py [--sentences 512] [--batch-size 32] [--max-new-tokens 32]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from tiny_models import WORDS, build_tiny_marian  # noqa: E402  (the model of the tests)

from kuda_pipeline.translation.backends import Seq2SeqTranslator  # noqa: E402


def random_sentences(count: int, seed: int = 0) -> list[str]:
    """``count`` sentences of 5 to 15 words drawn from the tiny model's vocabulary."""
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=rng.integers(5, 16))) for _ in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sentences = random_sentences(args.sentences)
    with tempfile.TemporaryDirectory() as directory:
        model_dir = build_tiny_marian(Path(directory) / "tiny_marian")
        translator = Seq2SeqTranslator(model_dir, batch_size=args.batch_size, max_new_tokens=args.max_new_tokens)
        translator.translate(sentences[: args.batch_size])  # warm-up: lazy imports, first allocations
        seconds = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            translations = translator.translate(sentences)
            seconds.append(time.perf_counter() - start)
    assert len(translations) == len(sentences)
    best, median = min(seconds), statistics.median(seconds)
    print(
        f"{len(sentences)} sentences, batch {args.batch_size}, max_new_tokens {args.max_new_tokens}, "
        f"{args.threads} thread(s), torch {torch.__version__}, CPU: "
        f"{len(sentences) / median:.0f} sentences/s (median of {args.repeats}), best {len(sentences) / best:.0f}"
    )


if __name__ == "__main__":
    main()
