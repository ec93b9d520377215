"""Every parameter checked before a run: known keys (nearest known one named), types, section semantics,
cross-section rules and the files a run's namespaces read."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from kedro.config import OmegaConfigLoader

from kuda_pipeline.parameters import ParameterError, check_run_inputs, validate_parameters
from kuda_pipeline.pretrained import PretrainedUnavailableError

CONF = Path(__file__).resolve().parents[1] / "conf"
SYNTHETIC = ["synthetic_sims", "synthetic_mosi"]


def _used(*namespaces: str) -> set[str]:
    """The parameter inputs of a run reading every section of ``namespaces``."""
    return {f"params:{namespace}.{section}" for namespace in namespaces for section in ("text_encoder", "translation")}


def _parameters(env: str) -> dict:
    return OmegaConfigLoader(str(CONF), base_env="base", default_run_env=env)["parameters"]


@pytest.fixture(scope="module")
def base() -> dict:
    return _parameters("base")


def _changed(parameters: dict, path: list[str], value) -> dict:
    """A copy with the value at ``path`` replaced (missing levels created); ``...`` deletes the key."""
    changed = copy.deepcopy(parameters)
    node = changed
    for key in path[:-1]:
        node = node.setdefault(key, {})
    if value is ...:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return changed


@pytest.mark.parametrize("env", ["base", "paper"])
def test_the_project_parameters_are_valid(env):
    parameters = _parameters(env)
    validate_parameters(parameters)
    check_run_inputs(parameters, SYNTHETIC, _used(*SYNTHETIC))


def test_models_are_checked_only_for_the_namespaces_of_the_run():
    paper = _parameters("paper")  # its BERTs are hub ids, not cached here, and the hub is offline
    check_run_inputs(paper, SYNTHETIC, _used(*SYNTHETIC, "sims"))
    with pytest.raises(PretrainedUnavailableError, match=r"sims\.text_encoder is the Hugging Face id "
                                                         r"'bert-base-chinese', which is not in the Hugging Face cache"):
        check_run_inputs(paper, ["sims"], _used("sims"))


UNKNOWN_KEYS = {
    "section": (["synthetic_sims", "fusion_trainig", "train", "epochs"], 2,
                r"^unknown parameter 'synthetic_sims\.fusion_trainig'; did you mean 'synthetic_sims\.fusion_training'\?$"),
    "namespace": (["synthetic_simz", "model", "scheme"], "sims",
                  r"^unknown parameter 'synthetic_simz'; did you mean 'synthetic_sims'\?$"),
    "train_field": (["synthetic_sims", "fusion_training", "train", "epoch"], 2,
                    r"'synthetic_sims\.fusion_training\.train\.epoch'; did you mean '.*\.train\.epochs'\?"),
    "nested_architecture": (["synthetic_mosi", "model", "architecture", "vision_encoder", "hiden_size"], 3,
                            r"'synthetic_mosi\.model\.architecture\.vision_encoder\.hiden_size'; did you mean "
                            r"'synthetic_mosi\.model\.architecture\.vision_encoder\.hidden_size'\?"),
    "evaluation": (["synthetic_sims", "evaluation", "spilt"], "test", r"did you mean 'synthetic_sims\.evaluation\.split'"),
    "translation": (["synthetic_sims", "translation", "seq2seq", "num_beam"], 2,
                    r"did you mean 'synthetic_sims\.translation\.seq2seq\.num_beams'"),
    "stage1_modality": (["synthetic_sims", "knowledge_pretraining", "t", "los"], "mse",
                        r"did you mean 'synthetic_sims\.knowledge_pretraining\.t\.loss'"),
    "experiments": (["experiments", "figures", "seeed"], 1, r"did you mean 'experiments\.figures\.seed'"),
    "variant": (["experiment_variants", "KuDA", "architecure"], {},
                r"did you mean 'experiment_variants\.KuDA\.architecture'"),
    "variant_architecture": (["experiment_variants", "w/o CE", "architecture", "alfa"], 0.0,
                             r"did you mean 'experiment_variants\.w/o CE\.architecture\.alpha'"),
    "tune": (["tune", "search_space", "learning_rate", "hihg"], 1.0,
             r"did you mean 'tune\.search_space\.learning_rate\.high'"),
    "ray": (["experiments", "ray", "cell_cpu"], 1, r"did you mean 'experiments\.ray\.cell_cpus'"),
    "nothing_near": (["totally_unrelated"], 1, r"^unknown parameter 'totally_unrelated'; known keys here: \["),
}


@pytest.mark.parametrize(("path", "value", "message"), UNKNOWN_KEYS.values(), ids=UNKNOWN_KEYS.keys())
def test_a_misspelt_key_anywhere_names_the_nearest_known_one(base, path, value, message):
    with pytest.raises(ParameterError, match=message):
        validate_parameters(_changed(base, path, value))


WRONG_TYPES = {
    "alpha_text": (["synthetic_sims", "model", "architecture", "alpha"], "abc",
                   r"^synthetic_sims\.model\.architecture\.alpha: expected a finite number, got 'abc' \(str\)$"),
    "epochs_text": (["synthetic_sims", "fusion_training", "train", "epochs"], "two",
                    r"synthetic_sims\.fusion_training\.train\.epochs: expected an integer, got 'two'"),
    "resume_text": (["synthetic_mosi", "fusion_training", "train", "resume"], "yes",
                    r"train\.resume: expected true or false, got 'yes'"),
    "layers_text": (["synthetic_sims", "model", "architecture", "text_injection_layers"], "2,3",
                    r"text_injection_layers: expected a list of values, each an integer, got '2,3'"),
    "label_range_length": (["synthetic_sims", "ingestion", "label_range"], [1.0],
                           r"ingestion\.label_range: expected a list of 2 values, each a finite number"),
    "section_not_mapping": (["synthetic_sims", "evaluation"], 3, r"synthetic_sims\.evaluation: expected a mapping, got 3"),
    "learning_rate_nan": (["synthetic_sims", "fusion_training", "train", "learning_rate"], float("nan"),
                          r"learning_rate: expected a finite number, got nan"),
    "device": (["synthetic_sims", "evaluation", "device"], "gpu",
               r"evaluation\.device: expected 'auto', 'cpu', 'cuda' or 'cuda:N', got 'gpu'"),
    "stage1_loss": (["synthetic_sims", "knowledge_pretraining", "a", "loss"], "huber",
                    r"knowledge_pretraining\.a\.loss: expected one of \['mae', 'mse'\], got 'huber'"),
    "split": (["synthetic_sims", "evaluation", "split"], "validation",
              r"evaluation\.split: expected one of \['train', 'valid', 'test'\], got 'validation'"),
    "eval_batch_size": (["synthetic_mosi", "evaluation", "batch_size"], 0,
                        r"synthetic_mosi\.evaluation\.batch_size: expected an integer >= 1, got 0"),
    "backend": (["synthetic_sims", "translation", "backend"], "google",
                r"translation\.backend: expected one of \['precomputed', 'seq2seq'\], got 'google'"),
    "fallback": (["synthetic_sims", "translation", "fallback"], "precomputed",
                 r"translation\.fallback: expected null or one of \['seq2seq'\], got 'precomputed'"),
    "seq2seq_batch": (["synthetic_sims", "translation", "seq2seq", "batch_size"], -1,
                      r"seq2seq\.batch_size: expected an integer >= 1, got -1"),
    "scheme": (["synthetic_sims", "model", "scheme"], "imdb", r"model\.scheme: expected one of \['mosi', 'sims'\]"),
    "grid_empty": (["experiments", "grid"], [], r"experiments\.grid: expected a non-empty list, got \[\]"),
    "grid_entry_key": (["experiments", "grid"], [{"dataset": "synthetic_sims", "variants": ["KuDA"], "seed": [0]}],
                       r"unknown parameter 'experiments\.grid\[0\]\.seed'; did you mean 'experiments\.grid\[0\]\.seeds'"),
    "counterparts": (["experiments", "report", "counterparts", "synthetic_sims"], "sims",
                     r"counterparts\.synthetic_sims: expected a list of values, each a string, got 'sims'"),
    "stage_pipeline_datasets": (["stage_pipeline_datasets"], ["synthetic_simz"],
                                r"stage_pipeline_datasets: expected a list of values, each one of \['synthetic_sims'"),
    "use_knowledge": (["experiment_variants", "w/o KIP", "use_knowledge"], "no",
                      r"experiment_variants\.w/o KIP\.use_knowledge: expected one of \[True, False\], got 'no'"),
}


@pytest.mark.parametrize(("path", "value", "message"), WRONG_TYPES.values(), ids=WRONG_TYPES.keys())
def test_a_wrong_type_or_choice_names_the_field(base, path, value, message):
    with pytest.raises(ParameterError, match=message):
        validate_parameters(_changed(base, path, value))


INVALID = {
    "selection_metric_of_other_scheme": (
        ["synthetic_sims", "fusion_training", "train", "selection_metric"], "Acc7",
        r"^synthetic_sims\.fusion_training\.train\.selection_metric: 'Acc7' is not a metric of the scheme 'sims'; "
        r"expected one of \['Acc2', 'Acc3', 'Acc5', 'F1', .*'MAE', 'Corr'\]$"),
    "stage1_selection_metric": (
        ["synthetic_mosi", "knowledge_pretraining", "v", "train", "selection_metric"], "Acc2_has0",
        r"synthetic_mosi\.knowledge_pretraining\.v\.train\.selection_metric: 'Acc2_has0' is not a metric of the "
        r"scheme 'sims'"),
    "mosi_selection_metric": (["synthetic_mosi", "fusion_training", "train", "selection_metric"], "Acc3",
                              r"'Acc3' is not a metric of the scheme 'mosi'; expected one of \['Acc7', 'Acc5'"),
    "selection_mode": (["synthetic_sims", "fusion_training", "train", "selection_mode"], "max",
                       r"train\.selection_mode: 'max' would select the worst epoch by MAE; expected 'min'"),
    "missing_required": (["synthetic_sims", "evaluation", "device"], ...,
                         r"^synthetic_sims\.evaluation: required key\(s\) \['device'\] missing$"),
    "missing_train_field": (["synthetic_sims", "fusion_training", "train", "epochs"], ...,
                            r"fusion_training\.train: required key\(s\) \['epochs'\] missing"),
    "train_range": (["synthetic_sims", "fusion_training", "train", "warmup_fraction"], 1.5,
                    r"synthetic_sims\.fusion_training\.train: TrainConfig\.warmup_fraction=1\.5 is invalid"),
    "architecture_range": (["synthetic_sims", "model", "architecture", "fusion_heads"], 0,
                           r"synthetic_sims\.model: KudaConfig\.fusion_heads must be a positive integer"),
    "length_buckets": (["synthetic_mosi", "model", "architecture", "length_buckets"], 0,
                       r"synthetic_mosi\.model: KudaConfig\.length_buckets must be a positive integer, got 0"),
    "label_range_order": (["synthetic_mosi", "ingestion", "label_range"], [3.0, -3.0],
                          r"synthetic_mosi\.ingestion: label_range must be \[low, high\] with low < high"),
    "tolerance": (["synthetic_sims", "label_statistics", "tolerance"], -0.1,
                  r"synthetic_sims\.label_statistics: tolerance must be >= 0, got -0\.1"),
    "synthesis": (["synthetic_sims", "synthesis", "language"], "fr", r"synthetic_sims\.synthesis: .*language"),
    "seq2seq_without_settings": (["synthetic_sims", "translation"], {"backend": "precomputed", "fallback": "seq2seq"},
                                 r"synthetic_sims\.translation: backend or fallback is 'seq2seq' but the seq2seq "
                                 r"section \(model …\) is missing"),
    "grid_dataset": (["experiments", "grid"], [{"dataset": "imdb", "variants": ["KuDA"], "seeds": [0]}],
                     r"^experiments: experiments\.grid\[0\]: unknown dataset 'imdb'"),
    "grid_variant": (["experiments", "grid"], [{"dataset": "synthetic_sims", "variants": ["KuDa"], "seeds": [0]}],
                     r"experiments\.grid\[0\]: unknown variant\(s\) \['KuDa'\]"),
    "experiments_training_metric": (["experiments", "training", "selection_metric"], "Acc7",
                                    r"experiments\.training \(on synthetic_sims\)\.selection_metric: 'Acc7' is not "
                                    r"a metric of the scheme 'sims'"),
    "experiments_training_range": (["experiments", "training", "epochs"], 0,
                                   r"experiments\.training \(on synthetic_sims\): TrainConfig\.epochs=0 is invalid"),
    "no_variants": (["experiment_variants"], {},
                    r"^experiment_variants: experiment variants must be a non-empty mapping name -> overrides"),
    "tune_metric": (["tune", "metric"], "Acc7",
                    r"^tune\.metric: 'Acc7' is not a metric of the scheme 'sims' of synthetic_sims; expected one of"),
    "tune_mode": (["tune", "mode"], "best", r"^tune\.mode: expected one of \['min', 'max'\], got 'best'"),
    "tune_search_space": (["tune", "search_space", "batch_size"], {"type": "normal", "low": 8, "high": 64},
                          r"tune\.search_space\.batch_size\.type: expected one of \['loguniform', 'uniform'"),
    "ray_cpus": (["experiments", "ray", "cell_cpus"], 0, r"experiments\.ray: experiments\.ray\.cell_cpus=0 is invalid"),
    "variant_value_on_a_dataset": (["experiment_variants", "w/o CE", "architecture", "alpha"], -1.0,
                                   r"experiment_variants\.w/o CE on synthetic_sims: KudaConfig\.k and "
                                   r"KudaConfig\.alpha must be >= 0"),
}


@pytest.mark.parametrize(("path", "value", "message"), INVALID.values(), ids=INVALID.keys())
def test_an_invalid_value_names_its_section(base, path, value, message):
    with pytest.raises(ParameterError, match=message):
        validate_parameters(_changed(base, path, value))


def _encoder_dir(tmp_path, **config) -> str:
    (tmp_path / "config.json").write_text(json.dumps(config))
    return str(tmp_path)


@pytest.mark.parametrize(
    ("path", "value", "error", "message"),
    [
        (["synthetic_sims", "text_encoder"], "/nonexistent/bert", PretrainedUnavailableError,
         r"synthetic_sims\.text_encoder is '/nonexistent/bert': no such directory"),
        (["synthetic_sims", "text_encoder"], "TMP_ENCODER", ParameterError,
         r"^synthetic_sims\.text_encoder \('.*'\): .*config\.json: vocab_size must be an integer >= 1, got None$"),
        (["synthetic_sims", "model", "architecture", "text_injection_layers"], [2, 3, 5, 7], ParameterError,
         r"synthetic_sims\.text_encoder \('embedded'\): KudaConfig\.text_injection_layers=\(2, 3, 5, 7\) reach "
         r"beyond the text encoder: the checkpoint has 6 hidden layers"),
        (["synthetic_sims", "translation"], {"backend": "seq2seq", "seq2seq": {"model": "/nonexistent/marian"}},
         PretrainedUnavailableError, r"synthetic_sims\.translation\.seq2seq\.model is '/nonexistent/marian': no such "
                                     r"directory"),
    ],
    ids=["encoder_missing", "encoder_without_vocab", "injection_beyond_depth", "seq2seq_model_missing"],
)
def test_models_of_the_run_are_checked_before_it_starts(base, tmp_path, path, value, error, message):
    if value == "TMP_ENCODER":
        value = _encoder_dir(tmp_path, num_hidden_layers=6)
    parameters = _changed(base, path, value)
    validate_parameters(parameters)
    with pytest.raises(error, match=message):
        check_run_inputs(parameters, ["synthetic_sims"], _used("synthetic_sims"))
