"""Which nodes each registered pipeline holds, and how the environment picks the per-stage pipelines' datasets."""

from __future__ import annotations

import pytest
from kedro.framework import project
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from kuda_pipeline import pipeline_registry
from kuda_pipeline.pipeline_registry import (
    DATA_STAGES,
    PAPER_DATASETS,
    SYNTHETIC_DATASETS,
    build_pipelines,
    use_defined_datasets,
    use_stage_datasets,
)
from project_copy import copy_project

DATASET_STAGES = {
    "sims": ["ingest_raw_dataset", "compute_label_statistics", "pretrain_t_knowledge", "pretrain_v_knowledge",
             "pretrain_a_knowledge", "train_fusion_model", "evaluate_fusion_model", "package_serving_model"],
}
TARGET_STAGES = ["ingest_raw_dataset", "compute_label_statistics", "assemble_knowledge_source",
                 "pretrain_t_knowledge", "pretrain_v_knowledge", "pretrain_a_knowledge", "train_fusion_model",
                 "evaluate_fusion_model", "package_serving_model"]


def node_names(pipeline) -> set[str]:
    return {node.name for node in pipeline.nodes}


def in_namespace(namespace: str, names) -> set[str]:
    return {f"{namespace}.{name}" for name in names}


@pytest.fixture(scope="module")
def paper_pipelines():
    return build_pipelines(PAPER_DATASETS)


def test_a_dataset_with_unimodal_labels_runs_only_its_own_stages(paper_pipelines):
    assert node_names(paper_pipelines["sims"]) == in_namespace("sims", DATASET_STAGES["sims"])


@pytest.mark.parametrize(("target", "source"), [("mosi", "sims"), ("mosei", "simsv2")])
def test_a_transfer_target_takes_only_ingestion_and_translation_from_its_source(paper_pipelines, target, source):
    expected = in_namespace(target, TARGET_STAGES) | {f"{source}.ingest_raw_dataset",
                                                      f"{source}.translate_to_english"}

    assert node_names(paper_pipelines[target]) == expected


def test_the_synthetic_target_also_synthesises_its_source():
    pipelines = build_pipelines()

    source_nodes = {name for name in node_names(pipelines["synthetic_mosi"]) if name.startswith("synthetic_sims.")}

    assert source_nodes == in_namespace(
        "synthetic_sims", ["generate_synthetic_corpus", "ingest_raw_dataset", "translate_to_english"])


def test_paper_and_full_are_the_unions_of_their_datasets(paper_pipelines):
    for name, datasets, extra in (("paper", PAPER_DATASETS, {"paper.compare_with_paper"}),
                                  ("full", SYNTHETIC_DATASETS, set())):
        union = set().union(*(node_names(paper_pipelines[ns]) for ns in datasets))
        assert node_names(paper_pipelines[name]) == union | extra


@pytest.mark.parametrize("datasets", [SYNTHETIC_DATASETS, PAPER_DATASETS])
def test_the_default_pipeline_is_the_data_stages_of_the_environment(datasets):
    pipelines = build_pipelines(datasets)

    assert pipelines["__default__"] is pipelines["data"]
    assert node_names(pipelines["data"]) == set().union(*(node_names(pipelines[stage]) for stage in DATA_STAGES))
    assert {node.namespace for node in pipelines["data"].nodes} == set(datasets)
    trained = {"pretrain_t_knowledge", "train_fusion_model", "evaluate_fusion_model"}
    assert not {name.split(".")[-1] for name in node_names(pipelines["data"])} & trained


def test_the_default_pipeline_falls_back_to_the_defined_datasets():
    pipelines = build_pipelines(PAPER_DATASETS, defined_datasets=SYNTHETIC_DATASETS)  # before the hooks say more

    assert {node.namespace for node in pipelines["__default__"].nodes} == set(SYNTHETIC_DATASETS)


@pytest.mark.parametrize(
    ("datasets", "stage", "expected"),
    [
        (PAPER_DATASETS, "ingestion", {f"{ns}.ingest_raw_dataset" for ns in PAPER_DATASETS}),
        (PAPER_DATASETS, "translation", {"sims.translate_to_english", "mosi.assemble_knowledge_source",
                                         "simsv2.translate_to_english", "mosei.assemble_knowledge_source"}),
        (PAPER_DATASETS, "fusion_training", {f"{ns}.train_fusion_model" for ns in PAPER_DATASETS}),
        (SYNTHETIC_DATASETS, "ingestion", {f"{ns}.ingest_raw_dataset" for ns in SYNTHETIC_DATASETS}),
        (SYNTHETIC_DATASETS, "synthesis", {f"{ns}.generate_synthetic_corpus" for ns in SYNTHETIC_DATASETS}),
        (("mosi",), "knowledge_pretraining", in_namespace("mosi", ["pretrain_t_knowledge", "pretrain_v_knowledge",
                                                                    "pretrain_a_knowledge"])),
    ],
)
def test_per_stage_pipelines_cover_the_chosen_datasets(datasets, stage, expected):
    assert node_names(build_pipelines(datasets)[stage]) == expected


def test_the_paper_datasets_have_no_synthesis_stage(paper_pipelines):
    assert node_names(paper_pipelines["synthesis"]) == set()


def test_dataset_pipelines_exist_only_where_the_environment_has_their_parameters():
    base = build_pipelines(SYNTHETIC_DATASETS, defined_datasets=SYNTHETIC_DATASETS)
    assert not {"paper", *PAPER_DATASETS} & set(base)
    assert {"full", "data", "experiments", "predict", *SYNTHETIC_DATASETS} <= set(base)
    without_source = build_pipelines(PAPER_DATASETS, defined_datasets=["mosi", "mosei", "simsv2"])
    assert {"mosei", "simsv2"} <= set(without_source) and not {"mosi", "paper"} & set(without_source)


def test_unknown_stage_datasets_are_refused():
    with pytest.raises(ValueError, match=r"stage_pipeline_datasets must list .* got \['imdb'\]"):
        use_stage_datasets(["imdb"])


@pytest.fixture
def project_path(tmp_path, monkeypatch):
    project_path = copy_project(tmp_path / "project")
    monkeypatch.chdir(project_path)
    yield project_path
    use_stage_datasets(SYNTHETIC_DATASETS)
    use_defined_datasets(SYNTHETIC_DATASETS)
    project.pipelines.configure(f"{project.PACKAGE_NAME}.pipeline_registry")


@pytest.mark.parametrize(("env", "datasets"), [("paper", PAPER_DATASETS), (None, SYNTHETIC_DATASETS)])
def test_the_environment_decides_what_the_stage_pipelines_cover(project_path, env, datasets):
    bootstrap_project(project_path)
    # the registry was already loaded for the other environment: the session must not reuse it
    use_stage_datasets(PAPER_DATASETS if env is None else SYNTHETIC_DATASETS)
    project.pipelines.configure(f"{project.PACKAGE_NAME}.pipeline_registry")
    assert list(project.pipelines["__default__"].nodes)

    with KedroSession.create(project_path=project_path, env=env) as session:
        session.load_context()
        ingestion = project.pipelines["ingestion"]

    assert node_names(ingestion) == {f"{ns}.ingest_raw_dataset" for ns in datasets}
    assert pipeline_registry.register_pipelines()["ingestion"].nodes == ingestion.nodes


def test_the_paper_comparison_reads_every_datasets_test_metrics(paper_pipelines):
    [compare] = [node for node in paper_pipelines["paper"].nodes if node.name == "paper.compare_with_paper"]

    assert compare.inputs == ["paper_results", *(f"{ns}.test_metrics" for ns in PAPER_DATASETS)]
    assert compare.outputs == ["paper.comparison"]
