"""Project hooks: every parameter set is validated, and every pretrained model is checked, before any node runs."""

from __future__ import annotations

from typing import Any

from kedro.framework.hooks import hook_impl

from kuda_pipeline.parameters import check_pretrained_models, validate_parameters


class ParameterValidationHooks:
    """Validates each namespace's parameters and checks the pretrained models the pipeline uses, so both fail first."""

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        namespaces = {node.namespace.split(".")[0] for node in pipeline.nodes if node.namespace}
        parameters = catalog.load("parameters")
        by_namespace = {ns: parameters.get(ns, {}) for ns in sorted(namespaces)}
        validate_parameters(by_namespace)
        check_pretrained_models(by_namespace, {name for node in pipeline.nodes for name in node.inputs})
