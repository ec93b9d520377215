"""The tune pipeline's library: spec validation, trial settings, and a 6-trial search on the tiny model."""

from __future__ import annotations

import dataclasses
import os

import pytest

from kuda_pipeline.experiments.tuning import TuneSpec, evaluate_best, run_search, search_inputs, trial_settings

PARAMETERS = {
    "name": "tiny_search", "metric": "MAE", "mode": "min", "num_samples": 6, "max_concurrent": 2, "seed": 0,
    "training": {"epochs": 4},
    "search_space": {"learning_rate": {"type": "loguniform", "low": 1.0e-5, "high": 3.0e-2},
                     "architecture.alpha": {"type": "loguniform", "low": 1.0e-3, "high": 1.0},
                     "architecture.vision_adapter.dropout": {"type": "choice", "values": [0.0, 0.2]}},
    "asha": {"grace_period": 1, "reduction_factor": 2},
    "storage": "unused",
    "ray": {"num_cpus": 2},
}


def test_the_spec_is_validated_with_the_field_named():
    assert TuneSpec.from_params(PARAMETERS).ray.num_cpus == 2
    with pytest.raises(ValueError, match=r"tune.search_space.learning_rate=.* is invalid: expected a type among"):
        TuneSpec.from_params({**PARAMETERS, "search_space": {"learning_rate": {"type": "normal", "mu": 0}}})
    with pytest.raises(ValueError, match=r"tune.search_space.seed: expected a TrainConfig field"):
        TuneSpec.from_params({**PARAMETERS, "search_space": {"seed": {"type": "choice", "values": [1]}}})
    with pytest.raises(ValueError, match=r"tune.training.epochs=None is invalid"):
        TuneSpec.from_params({**PARAMETERS, "training": {}})


def test_a_trial_merges_dataset_settings_overrides_and_sampled_values(tiny_inputs):
    spec = TuneSpec.from_params(PARAMETERS)
    architecture, train = trial_settings(spec, tiny_inputs, {"learning_rate": 0.01, "architecture.alpha": 0.5,
                                                             "architecture.vision_adapter.dropout": 0.2})
    assert train.learning_rate == 0.01 and train.epochs == 4 and train.seed == 0
    assert architecture["alpha"] == 0.5 and architecture["vision_adapter"]["dropout"] == 0.2
    assert architecture["vision_adapter"]["num_blocks"] == tiny_inputs.architecture["vision_adapter"]["num_blocks"]
    assert sorted(search_inputs(tiny_inputs).arrays) == ["train", "valid"]


class _Untouchable(dict):
    """A split that fails the test when anything reads it."""

    def __getitem__(self, key):
        raise AssertionError(f"the test split was read ({key!r}) during the search")

    def __iter__(self):
        raise AssertionError("the test split was read during the search")


@pytest.mark.slow
def test_a_six_trial_search_prunes_and_never_reads_the_test_split(tiny_inputs, tmp_path, monkeypatch):
    pytest.importorskip("ray")
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    spec = TuneSpec.from_params({**PARAMETERS, "storage": str(tmp_path / "tune")})
    hidden_test = dataclasses.replace(tiny_inputs, arrays={**tiny_inputs.arrays, "test": _Untouchable()})
    search = run_search(spec, hidden_test)

    trials = search.trials
    assert len(trials) == 6 and not trials["error"].any()
    assert trials["stopped_early"].sum() >= 1  # ASHA pruned at least one trial
    assert trials["epochs"].max() == 4 and set(search.histories) == set(trials["trial"])
    assert trials["best_valid_MAE"].is_monotonic_increasing  # best first
    assert set(search.best) == set(PARAMETERS["search_space"])

    evaluation = evaluate_best(spec, tiny_inputs, search.best)  # the test split: once, after the choice
    assert evaluation["test_split"] == "test" and set(evaluation["test"]) >= {"MAE", "Corr", "Acc2"}
    assert evaluation["valid"]["MAE"] == pytest.approx(trials["best_valid_MAE"].iloc[0], rel=1e-6)
    assert os.path.isdir(tmp_path / "tune" / "tiny_search")
