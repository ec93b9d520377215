"""Project settings (see https://docs.kedro.org/en/stable/configure/configuration_basics/)."""

from omegaconf.resolvers import oc

from kuda_pipeline.hooks import ParameterValidationHooks
from kuda_pipeline.stage_pipeline_hooks import StagePipelineHooks
from kuda_pipeline.tracking_hooks import TrackingHooks

HOOKS = (StagePipelineHooks(), ParameterValidationHooks(), TrackingHooks())

CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # lets conf/base/mlflow.yml read MLFLOW_TRACKING_URI (a remote server) with a local default
    "custom_resolvers": {"oc.env": oc.env},
}
