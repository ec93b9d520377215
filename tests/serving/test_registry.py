"""The model registry: versions tagged with their selection, `champion` following the best validation metric."""

import math

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from kuda_pipeline.serving.registry import CHAMPION, Selection, register_selected_model


@mlflow.pyfunc.utils.pyfunc
def identity(model_input: list[str]) -> list[str]:
    return model_input


@pytest.fixture
def model_uri(tmp_path, monkeypatch):
    """A trivial model logged to a throw-away sqlite store (the registry only needs a source)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)
    monkeypatch.setattr(mlflow.tracking.fluent, "_active_experiment_id", None)  # an earlier session's, elsewhere
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(name="m", python_model=identity, pip_requirements=[])
    yield info.model_uri
    mlflow.set_tracking_uri(None)


def champion(name: str) -> int | None:
    return MlflowClient().get_registered_model(name).aliases.get(CHAMPION)


def test_champion_moves_only_to_a_better_validation_metric(model_uri):
    moves = []
    for mae in (0.50, 0.60, 0.50, 0.40, float("nan")):
        version, moved = register_selected_model(model_uri, "kuda-x", Selection("MAE", "min", mae), {"run_id": "r"})
        moves.append((version.version, moved, champion("kuda-x")))
    assert moves == [(1, True, 1), (2, False, 1), (3, False, 1), (4, True, 4), (5, False, 4)]
    tags = MlflowClient().get_model_version("kuda-x", "4").tags
    assert tags == {"run_id": "r", "selection_metric": "MAE", "selection_mode": "min", "valid.MAE": "0.4"}


def test_higher_is_better_when_the_selection_mode_is_max(model_uri):
    for corr in (0.2, 0.1, 0.3):
        register_selected_model(model_uri, "kuda-y", Selection("Corr", "max", corr), {})
    assert champion("kuda-y") == 3


def test_a_champion_selected_on_another_metric_stays_and_the_log_says_how_to_move_it(model_uri, caplog):
    register_selected_model(model_uri, "kuda-z", Selection("MAE", "min", 0.5), {})
    _, moved = register_selected_model(model_uri, "kuda-z", Selection("Corr", "max", 0.9), {})
    assert not moved and champion("kuda-z") == 1
    assert "set_registered_model_alias('kuda-z', 'champion', 2)" in caplog.text


def test_selection_round_trips_through_tags_and_rejects_unknown_modes():
    selection = Selection("MAE", "min", 0.123456789)
    assert Selection.from_tags(selection.tags()) == selection
    assert Selection.from_tags({"selection_metric": "MAE"}) is None
    assert Selection("MAE", "min", 0.3).beats(Selection("MAE", "min", math.nan))
    with pytest.raises(ValueError, match=r"selection mode must be one of \('min', 'max'\), got 'lowest'"):
        Selection("MAE", "lowest", 0.1)
