"""The files to log as MLflow artifacts: those of the datasets whose catalog ``metadata`` says ``mlflow_artifact: true``.

The catalog entry (resolved through its dataset factory) gives both the marker and the file; a versioned
dataset's file of this run is ``<filepath>/<save version>/<file name>``, Kedro's versioned layout.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from kedro.io import AbstractVersionedDataset

logger = logging.getLogger(__name__)

ARTIFACT_FLAG = "mlflow_artifact"


def is_artifact(catalog: Any, name: str) -> bool:
    """Whether the catalog entry of ``name`` carries ``metadata: {mlflow_artifact: true}``."""
    metadata = catalog.config_resolver.resolve_pattern(name).get("metadata") or {}
    return bool(metadata.get(ARTIFACT_FLAG))


def _written_file(catalog: Any, name: str) -> Path | None:
    filepath = catalog.config_resolver.resolve_pattern(name).get("filepath")
    if filepath is None:
        return None
    path, dataset = Path(filepath), catalog.get(name)
    version = dataset.resolve_save_version() if isinstance(dataset, AbstractVersionedDataset) else None
    return path / version / path.name if version else path


def produced_artifacts(catalog: Any, names: Iterable[str]) -> Iterator[tuple[Path, str]]:
    """(file, artifact path ``<namespace>/<short name>``) of each artifact dataset in ``names`` written this run."""
    for name in sorted(names):
        if not is_artifact(catalog, name):
            continue
        path = _written_file(catalog, name)
        if path is None or not path.is_file():
            logger.warning("No local file for dataset %r (%s): not logged to MLflow", name, path)
            continue
        namespace, _, short_name = name.rpartition(".")
        yield path, f"{namespace}/{short_name}" if namespace else short_name
