"""Project hooks: every parameter set is validated before any node runs."""

from __future__ import annotations

from typing import Any

from kedro.framework.hooks import hook_impl

from kuda_pipeline.parameters import validate_parameters


class ParameterValidationHooks:
    """Builds the library's config objects from each namespace's parameters, so a bad value fails first."""

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        namespaces = {node.namespace.split(".")[0] for node in pipeline.nodes if node.namespace}
        parameters = catalog.load("parameters")
        validate_parameters({ns: parameters.get(ns, {}) for ns in sorted(namespaces)})
