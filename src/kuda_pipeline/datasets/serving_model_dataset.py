"""kedro-mlflow's model dataset for a KuDA pyfunc model: logged with its signature and input example."""

from __future__ import annotations

from kedro_mlflow.io.models import MlflowModelTrackingDataset

from kuda_pipeline.serving import KudaPyfuncModel, model_signature


class KudaServingModelDataset(MlflowModelTrackingDataset):
    """Logs the model to the active run (``save_args.name``) with the dataset's shapes as its signature, so the
    MLflow UI shows the input schema and a request of another shape is refused; loading is kedro-mlflow's."""

    def _save(self, model: KudaPyfuncModel) -> None:
        self._save_args["signature"] = model_signature(model.config)
        self._save_args["input_example"] = model.input_example
        super()._save(model)
