"""The MLflow pyfunc model: saved, reloaded without the BERT directory, and predicting as KuDA does."""

import dataclasses
import json
import shutil

import mlflow
import numpy as np
import pandas as pd
import pytest
import torch
from mlflow.exceptions import MlflowException
from mlflow.models.utils import load_serving_example
from mlflow.pyfunc.scoring_server import infer_and_parse_data
from tiny_models import tiny_bert, tiny_bert_config

from kuda_pipeline.data.dataset import padding_mask
from kuda_pipeline.model.config import KudaConfig
from kuda_pipeline.model.kuda import KuDA
from kuda_pipeline.serving import InvalidModelInput, KudaPyfuncModel, build_pyfunc_model, input_example, model_signature

L_T, L_V, D_V, L_A, D_A = 8, 6, 5, 10, 4
ENCODER = {"hidden_size": 16, "num_layers": 2, "num_heads": 2, "ffn_size": 8}
ADAPTER = {"num_heads": 2}
CONFIG = {
    "text_length": L_T, "vision_length": L_V, "vision_dim": D_V, "audio_length": L_A, "audio_dim": D_A,
    "text_injection_layers": [1, 2], "vision_encoder": ENCODER, "audio_encoder": ENCODER,
    "text_adapter": ADAPTER, "vision_adapter": ADAPTER, "audio_adapter": ADAPTER,
    "fusion_dim": 16, "fusion_blocks": 2, "fusion_heads": 2, "fusion_head_dim": 8, "fusion_ffn_size": 32,
    "head_hidden_sizes": [8, 4],
}
COLUMNS = ["sentiment", "sentiment_t", "sentiment_v", "sentiment_a"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A random tiny KuDA in eval mode and its pyfunc saved and reloaded after the BERT directory is gone."""
    bert = tiny_bert(seed=0)
    bert_dir = tmp_path_factory.mktemp("bert")
    bert.save_pretrained(bert_dir)
    config = KudaConfig.from_dict(CONFIG)
    model = KuDA(config, bert).eval()
    state = {"config": dataclasses.asdict(config), "state_dict": model.state_dict()}
    path = tmp_path_factory.mktemp("pyfunc") / "m"
    mlflow.pyfunc.save_model(path=path, python_model=build_pyfunc_model(state, bert_dir, "sims", device="cpu"),
                             pip_requirements=["torch", "transformers"])
    shutil.rmtree(bert_dir)
    return model, mlflow.pyfunc.load_model(str(path))


def split_arrays(size: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    text_lengths = rng.integers(1, L_T + 1, size)
    valid = np.arange(L_T) < text_lengths[:, None]  # (N, L_T)
    ids = rng.integers(1, 100, (size, L_T)) * valid
    return {
        "id": np.array([f"clip_{i:03d}" for i in range(size)]),
        "text_bert": np.stack([ids, valid, np.zeros_like(ids)], axis=1).astype(np.float32),  # (N, 3, L_T)
        "vision": rng.standard_normal((size, L_V, D_V)).astype(np.float32),
        "audio": rng.standard_normal((size, L_A, D_A)).astype(np.float32),
        "vision_lengths": rng.integers(0, L_V + 1, size),
        "audio_lengths": rng.integers(1, L_A + 1, size),
    }


def direct_predictions(model: KuDA, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """KuDA called on the whole input as one batch."""
    with torch.no_grad():
        output = model(
            text=torch.from_numpy(arrays["text_bert"]).long(),
            vision=torch.from_numpy(arrays["vision"]),
            vision_mask=padding_mask(torch.from_numpy(arrays["vision_lengths"]), L_V),
            audio=torch.from_numpy(arrays["audio"]),
            audio_mask=padding_mask(torch.from_numpy(arrays["audio_lengths"]), L_A),
        )
    unimodal = {f"sentiment_{m}": p.numpy() for m, p in output.unimodal_predictions.items()}
    return {"sentiment": output.prediction.numpy(), **unimodal}


def assert_matches(frame: pd.DataFrame, expected: dict[str, np.ndarray]) -> None:
    for column in COLUMNS:
        np.testing.assert_allclose(frame[column].to_numpy(), expected[column], rtol=1e-5, atol=1e-6)


def test_dict_input_over_several_chunks_matches_kuda(trained):
    model, served = trained
    arrays = split_arrays(70)  # two chunks of at most 64
    frame = served.predict(arrays)
    assert list(frame.columns) == ["id", *COLUMNS] and len(frame) == 70
    assert frame["id"].tolist() == arrays["id"].tolist()
    expected = direct_predictions(model, arrays)
    assert_matches(frame, expected)
    assert expected["sentiment"].std() > 1e-4  # the samples are told apart


def test_dataframe_records_and_inputs_json_match_kuda(trained):
    model, served = trained
    arrays = split_arrays(3, seed=1)
    records = [{key: value[i].tolist() for key, value in arrays.items()} for i in range(3)]
    inputs = {key: value.tolist() for key, value in arrays.items()}
    expected = direct_predictions(model, arrays)
    for body in ({"dataframe_records": records}, {"inputs": inputs}):
        parsed = infer_and_parse_data(json.loads(json.dumps(body)))  # as `mlflow models serve` parses it
        frame = served.predict(parsed)
        assert list(frame.columns) == ["id", *COLUMNS] and len(frame) == 3
        assert_matches(frame, expected)
    assert isinstance(infer_and_parse_data({"dataframe_records": records}), pd.DataFrame)


def test_one_sample_without_batch_axis_and_lengths_defaulting_to_full(trained):
    model, served = trained
    arrays = split_arrays(1, seed=2)
    arrays.update(vision_lengths=np.array([L_V]), audio_lengths=np.array([L_A]))
    one = {key: arrays[key][0] for key in ("text_bert", "vision", "audio")}
    frame = served.predict(one)
    assert list(frame.columns) == COLUMNS and len(frame) == 1
    assert_matches(frame, direct_predictions(model, arrays))


def test_wrong_vision_feature_size_names_the_key_and_both_shapes(trained):
    _, served = trained
    arrays = split_arrays(2)
    arrays["vision"] = np.zeros((2, L_V, D_V + 2), dtype=np.float32)
    with pytest.raises(ValueError, match=r"input 'vision' has shape \(2, 6, 7\); the model expects \(N, 6, 5\)"):
        served.predict(arrays)


def test_bad_lengths_missing_keys_and_unknown_scheme_are_refused(trained):
    _, served = trained
    arrays = split_arrays(2)
    with pytest.raises(ValueError, match=r"input 'audio_lengths' must hold integers in \[0, 10\], got \[11, 3\]"):
        served.predict({**arrays, "audio_lengths": np.array([11, 3])})
    with pytest.raises(ValueError, match=r"model input lacks key\(s\) \['audio'\]"):
        served.predict({key: value for key, value in arrays.items() if key != "audio"})
    with pytest.raises(ValueError, match=r"token ids must be in \[0, 100\), got min 100, max 100"):
        served.predict({**arrays, "text_bert": np.full((2, 3, L_T), 100)})
    with pytest.raises(ValueError, match=r"unknown metric scheme 'imdb'"):
        KudaPyfuncModel({"config": CONFIG, "state_dict": {}}, {"vocab_size": 100}, "imdb")


# ---------------------------------------------------------------- signature and input example, as the pipeline logs them


@pytest.fixture(scope="module")
def signed(tmp_path_factory, trained):
    """The same model saved with the dataset's shapes as its signature and two samples as its input example."""
    model, _ = trained
    config = KudaConfig.from_dict(CONFIG)
    state = {"config": dataclasses.asdict(config), "state_dict": model.state_dict()}
    example = input_example(int_tokens(split_arrays(5, seed=3)))
    pyfunc = KudaPyfuncModel(state, tiny_bert_config().to_dict(), "sims", device="cpu", input_example=example)
    path = tmp_path_factory.mktemp("signed") / "m"
    mlflow.pyfunc.save_model(path=path, python_model=pyfunc, signature=model_signature(config),
                             input_example=pyfunc.input_example, pip_requirements=["torch", "transformers"])
    return path, mlflow.pyfunc.load_model(str(path))


def int_tokens(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {**arrays, "text_bert": arrays["text_bert"].astype(np.int64)}


def test_signature_holds_the_dataset_shapes_and_the_example_is_a_real_request(trained, signed):
    model, _ = trained
    path, served = signed
    schema = {spec.name: (str(spec.type), spec.shape) for spec in served.metadata.get_input_schema().inputs}
    assert schema == {
        "id": ("object", (-1,)), "text_bert": ("int64", (-1, 3, L_T)), "vision": ("float32", (-1, L_V, D_V)),
        "vision_lengths": ("int64", (-1,)), "audio": ("float32", (-1, L_A, D_A)), "audio_lengths": ("int64", (-1,)),
    }
    request = json.loads(load_serving_example(str(path)))  # serving_input_example.json, what docs/serving.md sends
    assert sorted(request["inputs"]) == sorted(schema) and len(request["inputs"]["id"]) == 2
    frame = served.predict(infer_and_parse_data(request, served.metadata.get_input_schema()))
    arrays = int_tokens(split_arrays(5, seed=3))
    expected = direct_predictions(model, {key: value[:2] for key, value in arrays.items()})
    assert frame["id"].tolist() == ["clip_000", "clip_001"]
    assert_matches(frame, expected)


def test_a_request_of_the_wrong_shape_is_refused_with_both_shapes(signed):
    _, served = signed
    request = {key: value.tolist() for key, value in int_tokens(split_arrays(2)).items()}
    request["text_bert"] = np.zeros((2, 3, 2), dtype=np.int64).tolist()
    parsed = infer_and_parse_data({"inputs": request}, served.metadata.get_input_schema())
    with pytest.raises(MlflowException, match=r"Shape of input \(2, 3, 2\) does not match expected shape \(-1, 3, 8\)"):
        served.predict(parsed)


def test_what_the_signature_cannot_check_is_a_400_naming_the_key(signed):
    _, served = signed
    arrays = int_tokens(split_arrays(2))
    with pytest.raises(InvalidModelInput, match=r"input 'audio_lengths' must hold integers in \[0, 10\]") as caught:
        served.predict({**arrays, "audio_lengths": np.array([11, 3])})
    assert caught.value.get_http_status_code() == 400
    assert isinstance(caught.value, ValueError)
