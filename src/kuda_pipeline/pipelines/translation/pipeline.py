"""Translation template (in the source's namespace) and assembly template (in the target's)."""

from kedro.pipeline import Node, Pipeline

from .nodes import assemble_knowledge_source, translate_to_english


def create_translation_pipeline(**kwargs) -> Pipeline:
    """``samples`` (+ precomputed file, + earlier translations) → ``translations_en``."""
    return Pipeline([
        Node(
            translate_to_english,
            inputs=["samples", "english_rendering", "translations_en_cache", "params:translation"],
            outputs="translations_en",
            name="translate_to_english",
        )
    ])


def create_assembly_pipeline(**kwargs) -> Pipeline:
    """``source_arrays`` + ``source_translations`` (a source namespace's) → this namespace's ``knowledge_arrays``."""
    return Pipeline([
        Node(
            assemble_knowledge_source,
            inputs={
                "source_arrays": "source_arrays",
                "translations": "source_translations",
                "split_arrays": "split_arrays",
                "text_encoder": "params:text_encoder",
            },
            outputs="knowledge_arrays",
            name="assemble_knowledge_source",
        )
    ])
