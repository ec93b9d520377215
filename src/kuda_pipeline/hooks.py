"""Project hooks: every parameter is validated, and every pretrained model the run needs is checked, before any
node runs (and before any MLflow run opens); nodes receive the parameter sections they annotate as objects."""

from __future__ import annotations

import inspect
import typing
from typing import Any

from kedro.framework.hooks import hook_impl

from kuda_pipeline.parameters import DATASET_NAMESPACES, check_run_inputs, validate_parameters
from kuda_pipeline.pipelines._settings import SECTION_TYPES


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


class SectionObjectHooks:
    """Hands each node the validated parameter sections it annotates with a ``pipelines._settings`` type, built
    from the ``params:`` dict (which the catalog keeps, for kedro-mlflow and the incremental-run digests)."""

    @hook_impl
    def before_node_run(self, node: Any, inputs: dict[str, Any]) -> dict[str, Any] | None:
        objects = {name: section_type.from_parameters(inputs[name])
                   for name, section_type in section_inputs(node.func, node.inputs).items()
                   if isinstance(inputs[name], dict)}
        return objects or None


def section_inputs(func: Any, input_names: list[str]) -> dict[str, type]:
    """``params:`` inputs (bound to ``func``'s arguments in order) whose argument is annotated with a section type."""
    hints = typing.get_type_hints(inspect.unwrap(func))
    arguments = inspect.signature(func).bind_partial(*input_names).arguments
    return {name: hints[argument] for argument, name in arguments.items()
            if isinstance(name, str) and name.startswith("params:") and hints.get(argument) in SECTION_TYPES}
