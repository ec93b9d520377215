"""Tune template over one dataset namespace: ``params:tune`` + the namespace's split arrays and stage-1 checkpoints
→ ``tune_trials``, ``tune_best_configuration``, ``tune_trial_runs`` (MLflow), then ``tune_test_evaluation`` and
``tune_report``. The test evaluation depends on the chosen configuration, so it runs after the search."""

from functools import partial, update_wrapper

from kedro.pipeline import Node, Pipeline

from .nodes import evaluate_best_configuration, search_hyperparameters

SHARED = ["split_arrays", "knowledge_t", "knowledge_v", "knowledge_a", "params:text_encoder", "params:model",
          "params:fusion_training"]


def _bound(function, **values):
    return update_wrapper(partial(function, **values), function)


def create_pipeline(dataset: str, **kwargs) -> Pipeline:
    namespaced = [f"{dataset}.{name}" if not name.startswith("params:") else f"params:{dataset}.{name[7:]}"
                  for name in SHARED]
    return Pipeline([
        Node(_bound(search_hyperparameters, dataset=dataset), inputs=["params:tune", *namespaced],
             outputs=["tune_trials", "tune_best_configuration", "tune_trial_runs"], name="search_hyperparameters"),
        Node(_bound(evaluate_best_configuration, dataset=dataset),
             inputs=["params:tune", "tune_best_configuration", "tune_trials", *namespaced,
                     f"params:{dataset}.evaluation"],
             outputs=["tune_test_evaluation", "tune_report"], name="evaluate_best_configuration"),
    ])
