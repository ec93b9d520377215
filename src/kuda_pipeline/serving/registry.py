"""The MLflow model registry: each dataset's selected model is a version of ``kuda-<dataset>``; the ``champion``
alias moves to a new version only when its validation metric beats the current champion's."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass

import mlflow
from mlflow.entities.model_registry import ModelVersion
from mlflow.tracking import MlflowClient

from kuda_pipeline.serving.pyfunc import KudaPyfuncModel

logger = logging.getLogger(__name__)

CHAMPION = "champion"
SELECTION_MODES = ("min", "max")


def registered_model_name(namespace: str) -> str:
    return f"kuda-{namespace}"


@dataclass(frozen=True)
class Selection:
    """The validation metric a model was selected on: its name, whether lower or higher is better, its value."""

    metric: str
    mode: str
    value: float

    def __post_init__(self) -> None:
        if self.mode not in SELECTION_MODES:
            raise ValueError(f"selection mode must be one of {SELECTION_MODES}, got {self.mode!r}")

    def beats(self, other: Selection) -> bool:
        """Strictly better than `other` on the same metric; a NaN never beats and is always beaten."""
        if math.isnan(self.value):
            return False
        if math.isnan(other.value):
            return True
        return self.value < other.value if self.mode == "min" else self.value > other.value

    def tags(self) -> dict[str, str]:
        return {"selection_metric": self.metric, "selection_mode": self.mode, f"valid.{self.metric}": repr(self.value)}

    @classmethod
    def from_tags(cls, tags: Mapping[str, str]) -> Selection | None:
        """The selection recorded on a model version, or None when it has none."""
        metric, mode = tags.get("selection_metric"), tags.get("selection_mode")
        if metric is None or mode not in SELECTION_MODES or f"valid.{metric}" not in tags:
            return None
        return cls(metric, mode, float(tags[f"valid.{metric}"]))


def champion_version(client: MlflowClient, name: str) -> ModelVersion | None:
    version = client.get_registered_model(name).aliases.get(CHAMPION)
    return None if version is None else client.get_model_version(name, version)


def register_selected_model(
    model_uri: str, name: str, selection: Selection, tags: Mapping[str, str]
) -> tuple[ModelVersion, bool]:
    """Register `model_uri` as a new version of `name` tagged with `tags` and the selection; move `champion` to it
    when there is no champion or it beats the champion on the same validation metric. Returns (version, moved)."""
    client = MlflowClient()
    version = mlflow.register_model(model_uri, name, tags={**tags, **selection.tags()})
    champion = champion_version(client, name)
    incumbent = Selection.from_tags(champion.tags) if champion is not None else None
    if champion is not None and (incumbent is None or incumbent.metric != selection.metric):
        logger.warning(
            "%s: champion version %s was not selected on valid %s: alias %r left there; move it by hand with "
            "MlflowClient().set_registered_model_alias(%r, %r, %s)",
            name, champion.version, selection.metric, CHAMPION, name, CHAMPION, version.version,
        )
        return version, False
    moved = incumbent is None or selection.beats(incumbent)
    if moved:
        client.set_registered_model_alias(name, CHAMPION, version.version)
    logger.info(
        "registered %s version %s (valid %s %.4f); champion: %s", name, version.version, selection.metric,
        selection.value, f"version {version.version}" if moved else
        f"stays version {champion.version} ({selection.metric} {incumbent.value:.4f})",
    )
    return version, moved


def load_registered_model(model_uri: str, device: str = "auto") -> KudaPyfuncModel:
    """The `KudaPyfuncModel` behind an MLflow model URI (``models:/kuda-<ns>@champion``, ``runs:/<id>/<ns>_kuda``),
    rebuilt on `device`."""
    python_model = mlflow.pyfunc.load_model(model_uri).unwrap_python_model()
    if not isinstance(python_model, KudaPyfuncModel):
        raise ValueError(f"{model_uri} is not a KuDA model: its python model is a {type(python_model).__name__}")
    python_model.device = device
    python_model.load_context(None)
    return python_model
