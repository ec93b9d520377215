"""Project hooks: every parameter is validated, and every pretrained model the run needs is checked, before any
node runs (and before any MLflow run opens)."""

from __future__ import annotations

from typing import Any

from kedro.framework.hooks import hook_impl

from kuda_pipeline.parameters import DATASET_NAMESPACES, check_run_inputs, validate_parameters


class ParameterValidationHooks:
    """Checks the whole parameter tree, then the pretrained models of the dataset namespaces the run uses, so that
    a bad value fails first. ``tryfirst``: before kedro-mlflow's hook opens a run for a run that cannot start."""

    @hook_impl(tryfirst=True)
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        parameters = catalog.load("parameters")
        validate_parameters(parameters)
        check_run_inputs(parameters, namespaces_in_run(pipeline), {name for node in pipeline.nodes
                                                                   for name in node.inputs})


def namespaces_in_run(pipeline: Any) -> list[str]:
    """The dataset namespaces whose parameters the pipeline's nodes read (``params:<namespace>.…``)."""
    names = {name.removeprefix("params:").split(".")[0] for node in pipeline.nodes for name in node.inputs
             if name.startswith("params:")}
    return sorted(names & set(DATASET_NAMESPACES))

