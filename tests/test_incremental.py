"""Incremental runs: an unchanged reusable node returns an earlier run's outputs; forced or changed, it computes."""

from __future__ import annotations

import json
import shutil

import pytest

from kuda_pipeline import settings
from kuda_pipeline.incremental import IncrementalHooks, ReusedResult, code_version, forced, reusable
from kuda_pipeline.pipelines.fusion_training.nodes import train_fusion_model
from kuda_pipeline.pipelines.knowledge_pretraining.pipeline import create_pipeline as knowledge_pipeline
from kuda_pipeline.pipelines.translation.nodes import assemble_knowledge_source, translate_to_english
from tiny_kedro_project import finish, start_run, tiny_project


def test_a_reusable_function_returns_a_reused_result_unchanged_and_computes_otherwise():
    calls = []

    @reusable
    def double(value, factor):
        calls.append(value)
        return value * factor

    assert double(3, 2) == 6 and calls == [3]
    assert double(ReusedResult(("a", "b")), 2) == ("a", "b") and calls == [3]
    assert double.__name__ == "double"


def test_the_training_and_translation_nodes_are_reusable():
    assert all(getattr(function, "reusable", False)
               for function in (train_fusion_model, translate_to_english, assemble_knowledge_source))
    assert all(getattr(node.func, "reusable", False) for node in knowledge_pipeline().nodes)
    assert any(isinstance(hook, IncrementalHooks) for hook in settings.HOOKS)


def test_force_retrain_selects_all_nodes_or_the_named_namespaces_and_nodes():
    assert forced("synthetic_sims.train_fusion_model", True)
    assert not forced("synthetic_sims.train_fusion_model", False)
    assert forced("synthetic_sims.train_fusion_model", ["synthetic_sims"])
    assert forced("synthetic_sims.train_fusion_model", ["synthetic_sims.train_fusion_model"])
    assert not forced("synthetic_sims.train_fusion_model", ["synthetic_mosi", "synthetic"])
    with pytest.raises(ValueError, match="force_retrain must be true, false or a list .* got 'yes'"):
        forced("x", "yes")


def test_the_code_version_is_a_stable_digest():
    assert code_version() == code_version() and len(code_version()) == 32


def executions(project) -> list[str]:
    path = project / "signals" / "executions"
    return path.read_text().split() if path.exists() else []


def run_ok(project, token: str, extra_params: str = "") -> str:
    process = start_run(project, "reuse", token, extra_params=extra_params)
    output = finish(process)
    assert process.returncode == 0, output
    return output


def versions(project, name: str) -> list[str]:
    return sorted(path.name for path in (project / "data" / "tiny" / name).iterdir())


@pytest.mark.slow
def test_an_unchanged_node_is_reused_forced_on_request_and_recomputed_when_its_input_changes(tmp_path):
    project = tiny_project(tmp_path / "project")
    run_ok(project, "ab")
    second = run_ok(project, "ab")
    assert executions(project) == ["ab"]
    first_run, second_run = versions(project, "costly.json")
    assert f"reused tiny.costly from run {first_run}" in second
    assert f"reused tiny.costly_curve from run {first_run}" in second
    # the reused result is this run's own version, read by the next node
    reused = json.loads((project / "data" / "tiny" / "costly.json" / second_run / "costly.json").read_text())
    consumed = json.loads((project / "data" / "tiny" / "consumed.json" / second_run / "consumed.json").read_text())
    assert reused == {"token": "abab"} and consumed["read"] == "abab"

    run_ok(project, "ab", extra_params=",force_retrain=true")
    run_ok(project, "ab", extra_params=",force_retrain=[tiny]")
    assert executions(project) == ["ab", "ab", "ab"]
    run_ok(project, "abc")  # another parameter value: another key
    assert executions(project) == ["ab", "ab", "ab", "abc"]

    # the recorded versions were removed (retention): computed again, not reused
    for version in versions(project, "costly.json"):
        shutil.rmtree(project / "data" / "tiny" / "costly.json" / version)
    output = run_ok(project, "abc")
    assert executions(project) == ["ab", "ab", "ab", "abc", "abc"] and "reused" not in output
