"""Retention: keep the newest N versions of every versioned dataset and the newest N MLflow runs, remove the rest.

    python -m kuda_pipeline.retention --keep 3 [--dry-run] [--project .] [--tracking-uri URI] [--experiment NAME]

- Versioned datasets: every folder under ``data/`` whose sub-folders are Kedro versions (``<path>/<version>/<file>``)
  keeps its ``keep`` newest versions, counted per dataset (a dataset that later runs only read keeps the version
  they read). Reuse records (``data/.reuse``) naming a removed version are removed with it.
- MLflow: in the experiment (default ``kuda_pipeline``), the ``keep`` newest finished top-level runs are kept; each
  older one is deleted with its nested runs, its local artifacts and the models it logged, unless a registered
  model version comes from it (the registry keeps what it serves). RUNNING runs are never touched. Deleted runs
  leave the tracking database's rows marked deleted: ``mlflow gc`` removes them for good. Artifacts kept by a
  remote server are not on this machine: run ``mlflow gc`` there.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

from mlflow.entities import ViewType
from mlflow.tracking import MlflowClient

from kuda_pipeline.incremental import MANIFEST_DIR

logger = logging.getLogger(__name__)

VERSION = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}\.\d{2}\.\d{2}\.\d{3}Z")
DEFAULT_EXPERIMENT = "kuda_pipeline"


@dataclass
class RetentionReport:
    """What was (or, in a dry run, would be) removed, and the bytes it held on this machine."""

    dataset_versions: list[Path] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)
    kept_registered: list[str] = field(default_factory=list)
    freed_bytes: int = 0


def disk_usage(path: Path) -> int:
    """Bytes of the files under ``path`` (or of the file itself)."""
    if path.is_file():
        return path.stat().st_size
    return sum(item.stat().st_size for item in path.rglob("*") if item.is_file() and not item.is_symlink())


def versioned_datasets(data_dir: Path) -> dict[Path, list[str]]:
    """Each versioned dataset's folder → its versions, newest first."""
    found = {}
    for folder in sorted(path for path in data_dir.rglob("*") if path.is_dir()):
        versions = sorted((child.name for child in folder.iterdir() if child.is_dir() and VERSION.fullmatch(child.name)),
                          reverse=True)
        if versions:
            found[folder] = versions
    return found


def prune_dataset_versions(data_dir: Path, keep: int, report: RetentionReport, dry_run: bool) -> None:
    for folder, versions in versioned_datasets(data_dir).items():
        for version in versions[keep:]:
            path = folder / version
            report.dataset_versions.append(path)
            report.freed_bytes += disk_usage(path)
            if not dry_run:
                shutil.rmtree(path)


def prune_reuse_records(project: Path, dry_run: bool) -> None:
    """Remove the reuse records naming a dataset version that is gone (they could not be reused anyway)."""
    manifest_dir = project / MANIFEST_DIR
    if dry_run or not manifest_dir.is_dir():
        return
    for record in manifest_dir.rglob("*.json"):
        entry = json.loads(record.read_text())
        folders = entry.get("folders", {})
        if any(not (project / folders.get(name, "") / version).is_dir() for name, version in entry["versions"].items()):
            record.unlink()


def _local_path(uri: str) -> Path | None:
    parsed = urlparse(uri)
    if parsed.scheme in ("", "file"):
        return Path(url2pathname(parsed.path))
    return None


def _remove_artifacts(uri: str, report: RetentionReport, dry_run: bool) -> None:
    path = _local_path(uri)
    if path is None or not path.exists():
        return
    report.freed_bytes += disk_usage(path)
    if dry_run:
        return
    for child in path.iterdir():  # the empty folder stays: a file store checks that a run folder has one
        shutil.rmtree(child) if child.is_dir() else child.unlink()


def prune_mlflow_runs(client: MlflowClient, experiment_name: str, keep: int, report: RetentionReport,
                      dry_run: bool) -> None:
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        logger.info("No MLflow experiment %r: no run to remove", experiment_name)
        return
    ids = [experiment.experiment_id]
    runs = client.search_runs(ids, "attributes.status != 'RUNNING'", run_view_type=ViewType.ACTIVE_ONLY,
                              max_results=50000, order_by=["attributes.start_time DESC"])
    top_level = [run for run in runs if "mlflow.parentRunId" not in run.data.tags]
    for run in top_level[keep:]:
        run_id = run.info.run_id
        if client.search_model_versions(f"run_id = '{run_id}'"):
            report.kept_registered.append(run_id)
            continue
        nested = [child for child in runs if child.data.tags.get("mlflow.parentRunId") == run_id]
        for doomed in [*nested, run]:
            for model in client.search_logged_models(ids, f"source_run_id = '{doomed.info.run_id}'"):
                _remove_artifacts(model.artifact_location, report, dry_run)
                if not dry_run:
                    client.delete_logged_model(model.model_id)
            _remove_artifacts(doomed.info.artifact_uri, report, dry_run)
            if not dry_run:
                client.delete_run(doomed.info.run_id)
            report.runs.append(doomed.info.run_id)


def apply_retention(project: Path, keep: int, tracking_uri: str | None, experiment: str = DEFAULT_EXPERIMENT,
                    dry_run: bool = False) -> RetentionReport:
    """Remove what is older than the newest ``keep`` (module doc); returns what was removed."""
    if keep < 1:
        raise ValueError(f"keep must be at least 1, got {keep}")
    report = RetentionReport()
    data_dir = project / "data"
    prune_dataset_versions(data_dir, keep, report, dry_run)
    prune_reuse_records(project, dry_run)
    if tracking_uri:
        prune_mlflow_runs(MlflowClient(tracking_uri=tracking_uri), experiment, keep, report, dry_run)
    return report


def main(argv: list[str] | None = None) -> RetentionReport:
    parser = argparse.ArgumentParser(prog="python -m kuda_pipeline.retention", description=__doc__.split("\n")[0])
    parser.add_argument("--keep", type=int, required=True, help="versions per dataset and MLflow runs to keep")
    parser.add_argument("--project", type=Path, default=Path.cwd(), help="the project folder (default: here)")
    parser.add_argument("--tracking-uri", default=None,
                        help="MLflow store (default: MLFLOW_TRACKING_URI, else the project's sqlite:///mlflow.db)")
    parser.add_argument("--experiment", default=DEFAULT_EXPERIMENT)
    parser.add_argument("--dry-run", action="store_true", help="report what would be removed, remove nothing")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    project = args.project.resolve()
    tracking_uri = args.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{project / 'mlflow.db'}"
    if tracking_uri.startswith("sqlite:///") and not Path(tracking_uri.removeprefix("sqlite:///")).is_file():
        tracking_uri = None  # no store yet: nothing tracked to remove
    report = apply_retention(project, args.keep, tracking_uri, args.experiment, args.dry_run)
    verb = "would remove" if args.dry_run else "removed"
    logger.info("%s %d dataset versions and %d MLflow runs: %.1f MB", verb, len(report.dataset_versions),
                len(report.runs), report.freed_bytes / 1e6)
    if report.kept_registered:
        logger.info("kept %d older runs whose models are registered: %s", len(report.kept_registered),
                    ", ".join(report.kept_registered))
    return report


if __name__ == "__main__":
    main()
