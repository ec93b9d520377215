"""Project settings (see https://docs.kedro.org/en/stable/configure/configuration_basics/)."""

import warnings

from omegaconf.resolvers import oc

from kuda_pipeline.distributed_run import ProcessGroupHooks, RankZeroCatalog, on_rank_zero, plugins_off_rank_zero
from kuda_pipeline.hooks import ParameterValidationHooks
from kuda_pipeline.incremental import IncrementalHooks
from kuda_pipeline.logging_hooks import LoggingHooks
from kuda_pipeline.run_isolation import RunIsolationHooks
from kuda_pipeline.stage_pipeline_hooks import StagePipelineHooks
from kuda_pipeline.tracking.failed_start import FailedStartHooks
from kuda_pipeline.tracking.hooks import TrackingHooks
from kuda_pipeline.tracking.registry import RegistryHooks

# under torchrun, every rank runs the nodes (and makes the same reuse decisions) but only rank 0 writes datasets
# and tracks in MLflow
HOOKS = (
    LoggingHooks(),
    StagePipelineHooks(),
    ParameterValidationHooks(),
    RunIsolationHooks(),
    IncrementalHooks(),
    *on_rank_zero(TrackingHooks(), RegistryHooks(), FailedStartHooks()),
    ProcessGroupHooks(),
)
DISABLE_HOOKS_FOR_PLUGINS = plugins_off_rank_zero()
DATA_CATALOG_CLASS = RankZeroCatalog

CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # lets conf/base/mlflow.yml read MLFLOW_TRACKING_URI (a remote server) with a local default
    "custom_resolvers": {"oc.env": oc.env},
}

# Start-up noise a user cannot act on, silenced by its exact text: Kedro 1.7's config loader and kedro-mlflow 2.0
# register their resolvers with omegaconf 2.4's deprecated register_new_resolver (5 warnings per run); kedro-mlflow's
# own KedroPipelineModel (unused here) has an untyped predict: silenced in sessions and notebooks, while `kedro` on
# the command line imports that plugin before this module. Our pyfunc model's predict is type-hinted.
warnings.filterwarnings("ignore", message=r"register_new_resolver\(\) is deprecated", category=UserWarning)
warnings.filterwarnings("ignore", message=r".*Add type hints to the `predict` method", category=UserWarning)
