"""Ingestion benchmark on a synthetic MOSEI-sized MMSA pickle.

Writes a pickle with MOSEI's sizes (22,856 samples; text 50, vision 500x35, audio 500x74) from
numpy random data, then measures, each stage in a fresh subprocess so that its peak RSS is its
own: (a) load_untrusted_pickle + ingest_mmsa + save_split_arrays, (b) load_split_arrays +
make_loader (batch 64, shuffled) + the first batch.

    python benchmarks/ingestion.py                 # full size, needs ~10 GB in /tmp
    python benchmarks/ingestion.py --samples 2000  # scaled down
"""

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

MOSEI_SPLITS = {"train": 16326, "valid": 1871, "test": 4659}
TEXT_LENGTH, VISION_SHAPE, AUDIO_SHAPE = 50, (500, 35), (500, 74)
LABEL_RANGE = (-3.0, 3.0)
NEG_INF_SHARE = 0.05


def split_sizes(samples: int) -> dict[str, int]:
    """MOSEI's split proportions scaled to `samples` in total."""
    total = sum(MOSEI_SPLITS.values())
    sizes = {split: max(1, round(n * samples / total)) for split, n in MOSEI_SPLITS.items()}
    sizes["train"] = max(1, samples - sizes["valid"] - sizes["test"])
    return sizes


def random_split(rng: np.random.Generator, n: int, first_id: int) -> dict[str, np.ndarray]:
    text_bert = np.zeros((n, 3, TEXT_LENGTH))
    text_bert[:, 0] = rng.integers(1000, 30000, size=(n, TEXT_LENGTH))
    text_bert[:, 1] = 1
    audio = rng.standard_normal((n, *AUDIO_SHAPE), dtype=np.float32)
    with_inf = np.flatnonzero(rng.random(n) < NEG_INF_SHARE)
    audio[with_inf, 0, rng.integers(0, AUDIO_SHAPE[1], size=with_inf.size)] = -np.inf
    return {
        "id": np.array([f"video_{first_id + i:06d}$_$0001" for i in range(n)], dtype=object),
        "raw_text": np.array(["a sentence"] * n, dtype=object),
        "text_bert": text_bert,
        "vision": rng.standard_normal((n, *VISION_SHAPE), dtype=np.float32),
        "audio": audio,
        "vision_lengths": rng.integers(1, VISION_SHAPE[0] + 1, size=n),
        "audio_lengths": rng.integers(1, AUDIO_SHAPE[0] + 1, size=n),
        "regression_labels": rng.uniform(*LABEL_RANGE, size=(n, 1)).astype(np.float32),
    }


def stage_write(pickle_path: Path, samples: int) -> dict:
    from kuda_pipeline.data.safe_pickle import write_mmsa_pickle

    rng = np.random.default_rng(0)
    data, first_id = {}, 0
    for split, n in split_sizes(samples).items():
        data[split] = random_split(rng, n, first_id)
        first_id += n
    write_mmsa_pickle(data, pickle_path)
    return {}


def stage_ingest(pickle_path: Path, arrays_dir: Path) -> dict:
    from kuda_pipeline.data.mmsa import TokenLimits, ingest_mmsa
    from kuda_pipeline.data.safe_pickle import load_untrusted_pickle
    from kuda_pipeline.data.split_arrays import save_split_arrays

    start = time.perf_counter()
    raw = load_untrusted_pickle(pickle_path)
    loaded = time.perf_counter()
    ingested = ingest_mmsa(raw, str(pickle_path), LABEL_RANGE, token_limits=TokenLimits(vocab_size=30522))  # bert-base-uncased
    checked = time.perf_counter()
    del raw
    save_split_arrays(arrays_dir, ingested.splits)
    saved = time.perf_counter()
    replaced = sum(sum(s["non_finite_replaced"].values()) for s in ingested.report["splits"].values())
    return {"load_s": loaded - start, "validate_s": checked - loaded, "save_s": saved - checked,
            "wall_s": saved - start, "non_finite_replaced": replaced}


def stage_first_batch(arrays_dir: Path) -> dict:
    from kuda_pipeline.data.dataset import make_loader
    from kuda_pipeline.data.split_arrays import load_split_arrays

    start = time.perf_counter()
    arrays = load_split_arrays(arrays_dir)
    batch = next(iter(make_loader(arrays["train"], batch_size=64, shuffle=True, seed=0)))
    return {"wall_s": time.perf_counter() - start, "batch": len(batch)}


def run_stage(name: str, *args: str) -> dict:
    """Run a stage in a fresh interpreter; returns its figures plus its peak RSS."""
    completed = subprocess.run(
        [sys.executable, __file__, "--stage", name, *args], check=True, capture_output=True, text=True
    )
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=sum(MOSEI_SPLITS.values()))
    parser.add_argument("--workdir", type=Path, help="where to write (default: a fresh folder in /tmp)")
    parser.add_argument("--keep", action="store_true", help="keep the pickle and the split arrays")
    parser.add_argument("--stage", choices=["write", "ingest", "first_batch"], help=argparse.SUPPRESS)
    parser.add_argument("paths", nargs="*", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.stage:
        stages = {
            "write": lambda: stage_write(args.paths[0], args.samples),
            "ingest": lambda: stage_ingest(*args.paths),
            "first_batch": lambda: stage_first_batch(*args.paths),
        }
        figures = stages[args.stage]()
        figures["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        print(json.dumps(figures))
        return

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="kuda_ingestion_", dir="/tmp"))
    pickle_path, arrays_dir = workdir / "unaligned_50.pkl", workdir / "split_arrays"
    try:
        written = run_stage("write", "--samples", str(args.samples), str(pickle_path))
        ingest = run_stage("ingest", str(pickle_path), str(arrays_dir))
        first_batch = run_stage("first_batch", str(arrays_dir))
        pickle_size = pickle_path.stat().st_size
        arrays_size = sum(path.stat().st_size for path in arrays_dir.rglob("*.npy"))
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)

    gib = 2**30
    print(f"samples {args.samples} {split_sizes(args.samples)}; pickle {pickle_size / gib:.2f} GiB, "
          f"split arrays {arrays_size / gib:.2f} GiB; {ingest['non_finite_replaced']} non-finite values replaced")
    print(f"{'stage':<46}{'wall s':>8}{'peak RSS GiB':>14}{'RSS / pickle':>14}")
    for label, figures in (
        ("write pickle (setup)", written),
        ("(a) load pickle + ingest + save split arrays", ingest),
        ("(b) memmap arrays + loader + first batch", first_batch),
    ):
        wall = f"{figures['wall_s']:8.1f}" if "wall_s" in figures else f"{'-':>8}"
        rss = figures["peak_rss_bytes"]
        print(f"{label:<46}{wall}{rss / gib:14.2f}{rss / pickle_size:14.2f}")
    print(f"(a) split: load {ingest['load_s']:.1f} s, validate and clean {ingest['validate_s']:.1f} s, "
          f"save {ingest['save_s']:.1f} s")

if __name__ == "__main__":
    main()
