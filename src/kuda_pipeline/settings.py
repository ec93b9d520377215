"""Project settings (see https://docs.kedro.org/en/stable/configure/configuration_basics/)."""

from omegaconf.resolvers import oc

from kuda_pipeline.distributed_run import ProcessGroupHooks, RankZeroCatalog, on_rank_zero, plugins_off_rank_zero
from kuda_pipeline.hooks import ParameterValidationHooks
from kuda_pipeline.registry_hooks import RegistryHooks
from kuda_pipeline.stage_pipeline_hooks import StagePipelineHooks
from kuda_pipeline.tracking_hooks import TrackingHooks

# under torchrun, every rank runs the nodes but only rank 0 writes datasets and tracks in MLflow
HOOKS = (StagePipelineHooks(), ParameterValidationHooks(), *on_rank_zero(TrackingHooks(), RegistryHooks()), ProcessGroupHooks())
DISABLE_HOOKS_FOR_PLUGINS = plugins_off_rank_zero()
DATA_CATALOG_CLASS = RankZeroCatalog

CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # lets conf/base/mlflow.yml read MLFLOW_TRACKING_URI (a remote server) with a local default
    "custom_resolvers": {"oc.env": oc.env},
}
