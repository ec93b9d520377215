"""Stage-2 step before/after a change, side by side: every length profile, our default and the authors' math.

Runs `stage2_step.py` (one thread, one process per configuration so that each peak RSS is its own)
against two source trees, alternating them configuration by configuration, and prints a Markdown
table of the median CPU seconds per step and the peak RSS, with the ratios after/before and against
the authors' code as measured in issue 12 (29.3 CPU s/step, 8.26 GB peak RSS at the same shapes,
uniform lengths; their code is not available here, so those two figures are quoted, not re-measured).
For the realistic profiles it also runs the after tree on a typical length-grouped batch ("after,
grouped"); the before tree has no padding trimming, so its cost does not depend on which samples
share a batch.

    flock /work/wt/heavy.lock python benchmarks/stage2_compare.py --before ../perf-before/src --after src
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from length_profiles import PROFILE_NAMES

AUTHORS_CPU_SECONDS, AUTHORS_PEAK_RSS_GB = 29.3, 8.26
STEP_SCRIPT = Path(__file__).with_name("stage2_step.py")


def measure(source: Path, lengths: str, dropouts: str, steps: int, grouped: bool = False) -> dict:
    """One `stage2_step.py` run with `source` first on the path; its JSON figures."""
    with tempfile.TemporaryDirectory() as directory:
        output = Path(directory) / "figures.json"
        environment = {**os.environ, "PYTHONPATH": str(source.resolve()), "OMP_NUM_THREADS": "1"}
        subprocess.run(
            [sys.executable, str(STEP_SCRIPT), "--threads", "1", "--steps", str(steps), "--skip-flops",
             "--lengths", lengths, "--dropouts", dropouts, "--output", str(output),
             *(["--grouped"] if grouped else [])],
            env=environment, check=True, stdout=subprocess.DEVNULL,
        )
        return json.loads(output.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", type=Path, required=True, help="src directory of the tree before the change")
    parser.add_argument("--after", type=Path, required=True, help="src directory of the tree after the change")
    parser.add_argument("--lengths", nargs="+", default=list(PROFILE_NAMES), choices=PROFILE_NAMES)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--output", type=Path, help="also write every run's figures as JSON")
    args = parser.parse_args()
    rows, runs = [], []
    for lengths in args.lengths:
        for label, dropout in (("authors' math (public-code dropouts)", "authors"),
                               ("no attention dropout", "no-attention")):
            before = measure(args.before, lengths, dropout, args.steps)
            after = measure(args.after, lengths, dropout, args.steps)
            runs += [{"tree": "before", **before}, {"tree": "after", **after}]
            b_cpu, a_cpu = before["median_step_cpu_seconds"], after["median_step_cpu_seconds"]
            b_rss, a_rss = before["peak_rss_bytes"] / 1e9, after["peak_rss_bytes"] / 1e9
            grouped = "| - | - | - |"
            if lengths != "uniform":  # uniform draws the modalities independently: grouping has little to sort
                g = measure(args.after, lengths, dropout, args.steps, grouped=True)
                runs.append({"tree": "after, grouped", **g})
                g_cpu, g_rss = g["median_step_cpu_seconds"], g["peak_rss_bytes"] / 1e9
                grouped = f"| {g_cpu:.1f} | {AUTHORS_CPU_SECONDS / g_cpu:.2f}x | {g_rss:.2f} |"
            rows.append(
                f"| {lengths} | {label} | {b_cpu:.1f} | {a_cpu:.1f} | {b_cpu / a_cpu:.2f}x "
                f"| {AUTHORS_CPU_SECONDS / b_cpu:.2f}x | {AUTHORS_CPU_SECONDS / a_cpu:.2f}x "
                f"| {b_rss:.2f} | {a_rss:.2f} | {a_rss / AUTHORS_PEAK_RSS_GB:.2f}x {grouped}"
            )
            print(rows[-1], flush=True)
    print("\n| lengths | configuration | before CPU s/step | after CPU s/step | after vs before "
          "| before vs authors | after vs authors | before peak RSS GB | after peak RSS GB | after RSS / authors "
          "| after, grouped CPU s/step | grouped vs authors | grouped peak RSS GB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    if args.output:
        args.output.write_text(json.dumps(runs, indent=2))


if __name__ == "__main__":
    main()
