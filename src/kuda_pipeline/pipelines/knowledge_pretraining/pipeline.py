"""Stage-1 template: ``knowledge_arrays`` → per modality a ``knowledge_<m>`` checkpoint, its summary and curves."""

from functools import partial, update_wrapper

from kedro.pipeline import Node, Pipeline

from kuda_pipeline.data.contract import MODALITIES

from .nodes import pretrain_modality_knowledge


def _pretrain(modality: str):
    return update_wrapper(partial(pretrain_modality_knowledge, modality=modality), pretrain_modality_knowledge)


def create_pipeline(modalities: tuple[str, ...] = MODALITIES, **kwargs) -> Pipeline:
    return Pipeline([
        Node(
            _pretrain(modality),
            inputs=["knowledge_arrays", "params:text_encoder", "params:model", "params:knowledge_pretraining"],
            outputs=[f"knowledge_{modality}", f"knowledge_{modality}_summary", f"knowledge_{modality}_metrics_history"],
            name=f"pretrain_{modality}_knowledge",
        )
        for modality in modalities
    ])
