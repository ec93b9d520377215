"""What one full paper run costs: the four datasets at their real sizes, on this CPU.

Per dataset, on its full-size stand-in (`kuda_pipeline.data.standins`: the real split sizes, shapes and
quirks, synthetic values):

- ingestion: `load_untrusted_pickle` + `ingest_mmsa` + `save_split_arrays` in a fresh process (wall seconds
  and its own peak RSS); writing the stand-in is set-up, not timed. The stand-ins leave out MMSA's `text`
  key (precomputed BERT features, unused by KuDA), so a real file takes longer to unpickle than this.
- training: `conf/paper`'s architecture, batch sizes and epochs (loaded with Kedro's config loader), a random
  BERT of bert-base shape (the vocabulary of bert-base-chinese / bert-base-uncased), batches from the
  ingested split arrays through the training loader, the project's optimiser and step objectives. After
  `--warmup` steps, `--steps` training steps and as many evaluation steps are timed in process CPU seconds at
  one thread (`torch.set_num_threads(1)`). Steps run at batch ≤ `--max-batch` (memory: MOSEI's stage 2 at
  batch 64 holds ~15 GB of activations); forward, backward and evaluation are scaled linearly to the
  configured batch, the optimiser step is not. An epoch is extrapolated as train batches × train step +
  valid batches × evaluation step (data loading, checkpoints and the final test pass are left out).
- the stand-ins' valid lengths are uniform in [L/3, L] (`kuda_pipeline.data.synthetic`); real files have
  shorter ones, which padding trimming turns into shorter steps, so these figures are upper bounds there.
- stage 1 runs on the knowledge sources only: MOSI's stage 1 trains on CH-SIMS (its text re-tokenised to MOSI's
  length 50), MOSEI's on CH-SIMSv2; their step costs are measured on the source's batches with the text
  padded to the target's length.

The table "one full paper run (Table 2 epochs, one seed)" adds stage 1 (t, v, a) and stage 2 of every dataset.
The GPU column is not measured unless `--device cuda` runs on a machine with one (then in wall seconds).

    python benchmarks/paper_scale.py                                   # all four, 3 timed steps each
    python benchmarks/paper_scale.py --steps 1 --datasets sims mosi    # quicker, fewer datasets
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
DATASETS = ("sims", "simsv2", "mosi", "mosei")
SOURCES = {"mosi": "sims", "mosei": "simsv2"}
BERT_VOCABULARY = {"sims": 21128, "simsv2": 21128, "mosi": 30522, "mosei": 30522}  # chinese / uncased
BERT_BASE = dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072)
MODALITIES = ("t", "v", "a")
HOUR = 3600.0


def process_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def paper_parameters() -> dict:
    """conf/base + conf/paper parameters, as `kedro run --env=paper` sees them."""
    from kedro.config import OmegaConfigLoader

    loader = OmegaConfigLoader(str(PROJECT / "conf"), base_env="base", default_run_env="paper")
    return loader["parameters"]


# ---------------------------------------------------------------- stages, each in a fresh process
def stage_write(dataset: str, raw_dir: Path) -> dict:
    from transformers import AutoTokenizer

    from kuda_pipeline.data.standins import write_standins
    from kuda_pipeline.model.text_encoder import embedded_text_encoder_dir

    start = time.perf_counter()
    [path] = write_standins(raw_dir, AutoTokenizer.from_pretrained(embedded_text_encoder_dir()), [dataset]).values()
    return {"wall_s": time.perf_counter() - start, "pickle_bytes": path.stat().st_size, "path": str(path)}


def stage_ingest(pickle_path: Path, arrays_dir: Path, dataset: str) -> dict:
    from kuda_pipeline.data.mmsa import ingest_mmsa
    from kuda_pipeline.model.text_encoder import embedded_text_encoder_dir, read_token_limits
    from kuda_pipeline.data.safe_pickle import load_untrusted_pickle
    from kuda_pipeline.data.split_arrays import save_split_arrays

    label_range = tuple(paper_parameters()[dataset]["ingestion"]["label_range"])
    start, start_cpu = time.perf_counter(), process_cpu_seconds()
    raw = load_untrusted_pickle(pickle_path)
    ingested = ingest_mmsa(raw, str(pickle_path), label_range,
                           token_limits=read_token_limits(embedded_text_encoder_dir()))  # the stand-ins' tokenizer
    del raw
    save_split_arrays(arrays_dir, ingested.splits)
    return {"wall_s": time.perf_counter() - start, "cpu_s": process_cpu_seconds() - start_cpu,
            "counts": {split: int(len(arrays["id"])) for split, arrays in ingested.splits.items()}}


def _step_seconds(model, loader, step, optimizer, steps: int, warmup: int, device, text_length: int | None) -> dict:
    """CPU seconds (wall on CUDA), medians over `steps`: forward + backward, the optimiser step, an evaluation step."""
    import statistics

    import torch

    def clock() -> float:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
            return time.perf_counter()
        return process_cpu_seconds()

    batches = iter(loader)
    times: dict[str, list[float]] = {"forward_backward_s": [], "optimizer_s": [], "eval_step_s": []}
    for index in range(warmup + steps):
        batch = _with_text_length(next(batches), text_length).to(device)
        model.train()
        start = clock()
        optimizer.zero_grad(set_to_none=True)
        step(model, batch).loss.backward()
        backward_done = clock()
        optimizer.step()
        optimizer_done = clock()
        model.eval()
        with torch.inference_mode():
            step(model, batch)
        if index >= warmup:
            times["forward_backward_s"].append(backward_done - start)
            times["optimizer_s"].append(optimizer_done - backward_done)
            times["eval_step_s"].append(clock() - optimizer_done)
    return {name: statistics.median(values) for name, values in times.items()}


def _with_text_length(batch, text_length: int | None):
    """The batch with its token block padded (or cut) to `text_length`: a knowledge source re-tokenised."""
    import dataclasses

    import torch

    if text_length is None or batch.text.shape[2] == text_length:
        return batch
    text = batch.text[:, :, :text_length]
    padding = text_length - text.shape[2]
    if padding > 0:
        text = torch.nn.functional.pad(text, (0, padding))
    return dataclasses.replace(batch, text=text)


def stage_train(arrays_dir: Path, dataset: str, steps: int, warmup: int, device_name: str, max_batch: int) -> dict:
    """Step costs of stage 1 (per modality, on this dataset as a knowledge source) and stage 2 (on this dataset)."""
    import dataclasses
    from functools import partial

    import torch
    from transformers import BertConfig, BertModel

    from kuda_pipeline.data.dataset import make_loader
    from kuda_pipeline.data.split_arrays import load_split_arrays
    from kuda_pipeline.data.standins import REAL_FILES
    from kuda_pipeline.model.kuda import KuDA
    from kuda_pipeline.model.knowledge import UnimodalKnowledgeModel
    from kuda_pipeline.model.objectives import fusion_step, knowledge_step
    from kuda_pipeline.training.config import TrainConfig
    from kuda_pipeline.training.fit import build_optimizer
    from kuda_pipeline.training.stages import kuda_config

    torch.set_num_threads(1)
    torch.manual_seed(0)
    device = torch.device(device_name)
    parameters = paper_parameters()
    arrays = load_split_arrays(arrays_dir)
    figures: dict = {"stage1": {}, "stage2": {}}

    def bert(vocabulary: int) -> BertModel:
        return BertModel(BertConfig(vocab_size=vocabulary, **BERT_BASE))

    def loader(train: TrainConfig):
        return make_loader(arrays["train"], min(train.batch_size, max_batch), shuffle=True, seed=train.seed,
                           group_by_length=train.group_by_length)

    def scaled(measured: dict, train: TrainConfig) -> dict:
        """Step times at the configured batch size, measured at a smaller one: forward, backward and evaluation
        scale linearly with the batch, the optimiser step does not."""
        factor = train.batch_size / min(train.batch_size, max_batch)
        return {"train_step_s": measured["forward_backward_s"] * factor + measured["optimizer_s"],
                "eval_step_s": measured["eval_step_s"] * factor, "optimizer_s": measured["optimizer_s"],
                "batch_size": train.batch_size, "measured_batch_size": min(train.batch_size, max_batch)}

    # stage 1: on this dataset when it is a knowledge source, for itself and for the targets it serves
    consumers = [dataset] + [target for target, source in SOURCES.items() if source == dataset]
    if dataset not in SOURCES:
        for consumer in consumers:
            section = parameters[consumer]["knowledge_pretraining"]
            text_length = REAL_FILES[consumer].text_length if consumer in SOURCES else None  # re-tokenised
            config = kuda_config(parameters[consumer]["model"]["architecture"], arrays)
            if text_length is not None:
                config = dataclasses.replace(config, text_length=text_length)
            for modality in MODALITIES if consumer == dataset else ("t",):
                train = TrainConfig.from_dict({**section[modality]["train"], "device": device_name})
                model = UnimodalKnowledgeModel(config, modality, bert(BERT_VOCABULARY[consumer]) if modality == "t"
                                               else None).to(device)
                step = partial(knowledge_step, loss_kind=section[modality].get("loss", "mse"))
                measured = _step_seconds(model, loader(train), step, build_optimizer(model, train), steps, warmup,
                                         device, text_length)
                figures["stage1"].setdefault(consumer, {})[modality] = scaled(measured, train)
                del model

    # stage 2
    train = TrainConfig.from_dict({**parameters[dataset]["fusion_training"]["train"], "device": device_name})
    config = kuda_config(parameters[dataset]["model"]["architecture"], arrays)
    model = KuDA(config, bert(BERT_VOCABULARY[dataset])).freeze_knowledge().to(device)
    measured = _step_seconds(model, loader(train), fusion_step, build_optimizer(model, train), steps, warmup, device,
                             None)
    figures["stage2"] = scaled(measured, train)
    figures["counts"] = {split: int(len(split_arrays["id"])) for split, split_arrays in arrays.items()}
    return figures


def run_stage(name: str, *args: str, options: tuple[str, ...] = ()) -> dict:
    """One stage in a fresh interpreter (its own peak RSS); returns its figures."""
    command = [sys.executable, __file__, *options, "--stage", name, *args]
    completed = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(completed.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- extrapolation to a paper run
def epoch_seconds(step: dict, counts: dict) -> float:
    batches = {split: math.ceil(counts[split] / step["batch_size"]) for split in ("train", "valid")}
    return batches["train"] * step["train_step_s"] + batches["valid"] * step["eval_step_s"]


def paper_run_table(results: dict, parameters: dict) -> list[dict]:
    """Per dataset: seconds per epoch of each stage, epochs (conf/paper), hours on this CPU."""
    rows = []
    for dataset, result in results.items():
        source = SOURCES.get(dataset, dataset)
        if source not in results:
            continue
        stage1 = {}
        for modality in MODALITIES:
            measured_on = results[source]["train"]["stage1"]
            step = measured_on.get(dataset, {}).get(modality) or measured_on[source][modality]  # v/a: the source's
            epochs = parameters[dataset]["knowledge_pretraining"][modality]["train"]["epochs"]
            stage1[modality] = (epoch_seconds(step, results[source]["train"]["counts"]), epochs)
        step2 = result["train"]["stage2"]
        stage2 = (epoch_seconds(step2, result["train"]["counts"]), parameters[dataset]["fusion_training"]["train"]["epochs"])
        seconds = sum(per_epoch * epochs for per_epoch, epochs in (*stage1.values(), stage2))
        rows.append({"dataset": dataset, "stage1": stage1, "stage2": stage2, "hours": seconds / HOUR})
    return rows


def report(results: dict, parameters: dict, args: argparse.Namespace) -> str:
    gib = 2**30
    unit = "CPU s at 1 thread" if args.device == "cpu" else f"wall s on {args.device}"
    lines = [f"## Ingestion (full-size stand-ins, fresh process each)", "",
             "| dataset | train / valid / test | pickle GiB | ingest wall s | ingest CPU s | peak RSS GiB |",
             "|---|---|---|---|---|---|"]
    for dataset, result in results.items():
        ingest, counts = result["ingest"], result["ingest"]["counts"]
        lines.append(f"| {dataset} | {counts['train']:,} / {counts['valid']:,} / {counts['test']:,} | "
                     f"{result['write']['pickle_bytes'] / gib:.2f} | {ingest['wall_s']:.1f} | {ingest['cpu_s']:.1f} | "
                     f"{ingest['peak_rss_bytes'] / gib:.2f} |")
    lines += ["", f"## Step costs ({unit}, median of {args.steps} after {args.warmup} warm-up; bert-base shapes;",
              f"measured at batch ≤ {args.max_batch} and forward, backward and evaluation scaled linearly to the configured batch)", "",
              "| dataset | stage | batch (measured) | train step s | eval step s | s per epoch | peak RSS GiB |",
              "|---|---|---|---|---|---|---|"]
    for dataset, result in results.items():
        train = result["train"]
        rss = train["peak_rss_bytes"] / gib
        for consumer, modalities in train["stage1"].items():
            for modality, step in modalities.items():
                label = f"stage 1 {modality}" + ("" if consumer == dataset else f" (for {consumer}, text 50)")
                lines.append(f"| {dataset} | {label} | {step['batch_size']} ({step['measured_batch_size']}) | "
                             f"{step['train_step_s']:.2f} | "
                             f"{step['eval_step_s']:.2f} | {epoch_seconds(step, train['counts']):.0f} | {rss:.2f} |")
        step = train["stage2"]
        lines.append(f"| {dataset} | stage 2 | {step['batch_size']} ({step['measured_batch_size']}) | "
                     f"{step['train_step_s']:.2f} | "
                     f"{step['eval_step_s']:.2f} | {epoch_seconds(step, train['counts']):.0f} | {rss:.2f} |")
    rows = paper_run_table(results, parameters)
    gpu = "not measured (no GPU here)" if args.device == "cpu" else "-"
    lines += ["", "## One full paper run (Table 2 epochs, one seed)", "",
              f"| dataset | stage 1 t / v / a: s per epoch × epochs | stage 2: s per epoch × epochs | "
              f"hours on this CPU | hours on one GPU |", "|---|---|---|---|---|"]
    for row in rows:
        stage1 = " / ".join(f"{per_epoch:.0f}×{epochs}" for per_epoch, epochs in row["stage1"].values())
        per_epoch, epochs = row["stage2"]
        cpu_hours = f"{row['hours']:.1f}" if args.device == "cpu" else "-"
        gpu_hours = gpu if args.device == "cpu" else f"{row['hours']:.2f}"
        lines.append(f"| {row['dataset']} | {stage1} | {per_epoch:.0f}×{epochs} | {cpu_hours} | {gpu_hours} |")
    total = sum(row["hours"] for row in rows)
    lines.append(f"| **all** | | | **{total:.1f}** | {gpu} |" if args.device == "cpu"
                 else f"| **all** | | | - | **{total:.2f}** |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--steps", type=int, default=3, help="timed training (and evaluation) steps per model")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps first")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--max-batch", type=int, default=16,
                        help="measure at most this batch and scale step times linearly to the configured batch "
                             "(MOSEI's stage 2 at batch 64 needs ~15 GB of activations)")
    parser.add_argument("--workdir", type=Path, help="where stand-ins and split arrays go (default: fresh in /tmp)")
    parser.add_argument("--output", type=Path, help="also write the figures as JSON here")
    parser.add_argument("--stage", help=argparse.SUPPRESS)
    parser.add_argument("stage_args", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.stage:
        stages = {
            "write": lambda dataset, raw_dir: stage_write(dataset, Path(raw_dir)),
            "ingest": lambda path, arrays_dir, dataset: stage_ingest(Path(path), Path(arrays_dir), dataset),
            "train": lambda arrays_dir, dataset: stage_train(Path(arrays_dir), dataset, args.steps, args.warmup,
                                                             args.device, args.max_batch),
        }
        figures = stages[args.stage](*args.stage_args)
        print(json.dumps({**figures, "peak_rss_bytes": peak_rss_bytes()}))
        return

    # a source goes first: its stage-1 figures serve its targets
    datasets = sorted(set(args.datasets) | {SOURCES[d] for d in args.datasets if d in SOURCES}, key=DATASETS.index)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="kuda_paper_scale_", dir="/tmp"))
    results = {}
    timing = ("--steps", str(args.steps), "--warmup", str(args.warmup), "--device", args.device,
              "--max-batch", str(args.max_batch))
    try:
        for dataset in datasets:
            arrays_dir = workdir / dataset / "split_arrays"
            written = run_stage("write", dataset, str(workdir / "01_raw"))
            ingest = run_stage("ingest", written["path"], str(arrays_dir), dataset)
            Path(written["path"]).unlink()
            train = run_stage("train", str(arrays_dir), dataset, options=timing)
            shutil.rmtree(arrays_dir)
            results[dataset] = {"write": written, "ingest": ingest, "train": train}
            print(f"{dataset}: done", file=sys.stderr, flush=True)
    finally:
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    print(report(results, paper_parameters(), args))
    if args.output:
        args.output.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
