"""Synthesis template: ``params:synthesis`` → ``raw_mmsa`` (+ ``english_rendering`` for Chinese corpora)."""

from kedro.pipeline import Node, Pipeline

from .nodes import generate_synthetic_corpus, generate_synthetic_corpus_with_rendering


def create_pipeline(with_english_rendering: bool = False, **kwargs) -> Pipeline:
    if with_english_rendering:
        return Pipeline([
            Node(
                generate_synthetic_corpus_with_rendering,
                inputs=["params:synthesis", "params:text_encoder"],
                outputs=["raw_mmsa", "english_rendering"],
                name="generate_synthetic_corpus",
            )
        ])
    return Pipeline([
        Node(
            generate_synthetic_corpus,
            inputs=["params:synthesis", "params:text_encoder"],
            outputs="raw_mmsa",
            name="generate_synthetic_corpus",
        )
    ])
