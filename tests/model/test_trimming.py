"""Padding trimming: cut after the batch's last valid step, same outputs and gradients as the full padded length."""

import dataclasses

import pytest
import torch
from tiny_models import B, D_A, D_V, L_A, L_T, L_V, tiny_model

from kuda_pipeline.data.dataset import Batch, padding_mask
from kuda_pipeline.model.config import AdapterConfig, SequenceEncoderConfig
from kuda_pipeline.model.objectives import fusion_step
from kuda_pipeline.model.trimming import pad_to_length, trim_padding, trimmed_length


def short_batch(text=(5, 2, 4), vision=(3, 0, 1), audio=(6, 2, 1)) -> Batch:
    """Every modality shorter than its padded length in every row; padded inputs are large garbage."""
    generator = torch.Generator().manual_seed(3)
    text_valid = padding_mask(torch.tensor(text), L_T)
    ids = torch.randint(1, 100, (B, L_T), generator=generator)  # padded ids too: only the mask marks padding
    vision_mask, audio_mask = padding_mask(torch.tensor(vision), L_V), padding_mask(torch.tensor(audio), L_A)
    return Batch(
        text=torch.stack([ids, text_valid.long(), torch.zeros_like(ids)], dim=1),
        vision=torch.randn(B, L_V, D_V, generator=generator) + 50 * ~vision_mask[..., None],
        vision_mask=vision_mask,
        audio=torch.randn(B, L_A, D_A, generator=generator) + 50 * ~audio_mask[..., None],
        audio_mask=audio_mask,
        label=torch.tensor([0.5, -0.8, 0.1]),
        index=torch.arange(B),
    )


def test_trimmed_length_is_one_past_the_last_valid_step_of_any_row():
    valid = torch.tensor([[True, False, True, False, False], [True, True, False, False, False]])
    assert trimmed_length(valid) == 3  # not a prefix: the last valid step of row 0 decides
    assert trimmed_length(torch.zeros(2, 4, dtype=torch.bool)) == 1
    inputs = torch.arange(2 * 3 * 5).reshape(2, 3, 5)
    cut, cut_valid = trim_padding(inputs, valid, length_dim=2)
    assert cut.shape == (2, 3, 3) and torch.equal(cut, inputs[:, :, :3]) and torch.equal(cut_valid, valid[:, :3])
    assert torch.equal(pad_to_length(torch.ones(2, 3, 4), 5)[:, 3:], torch.zeros(2, 2, 4))


def _pair(**overrides):
    trimmed, full = tiny_model(**overrides), tiny_model(trim_padding=False, **overrides)
    full.load_state_dict(trimmed.state_dict())
    return trimmed, full


@pytest.mark.parametrize("adapter_norm", ["per_block", "shared"])
def test_trimming_gives_the_same_outputs_in_evaluation(adapter_norm):
    trimmed, full = _pair(adapter_norm=adapter_norm)
    batch = short_batch()
    with torch.no_grad():
        got, want = trimmed.eval()(**batch.inputs), full.eval()(**batch.inputs)
    assert got.unimodal_predictions.keys() == want.unimodal_predictions.keys()
    torch.testing.assert_close(got.prediction, want.prediction, rtol=1e-5, atol=1e-6)
    for m in "tva":
        torch.testing.assert_close(got.unimodal_predictions[m], want.unimodal_predictions[m], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(got.projected[m], want.projected[m], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(got.ce_loss, want.ce_loss, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("frozen", [False, True])
def test_trimming_gives_the_same_loss_and_gradients_in_training(frozen):
    no_dropout = SequenceEncoderConfig(
        hidden_size=16, num_layers=3, num_heads=2, ffn_size=8, dropout=0.0, attention_dropout=0.0
    )
    adapter = AdapterConfig(num_blocks=2, num_heads=2, dropout=0.0, attention_dropout=0.0)
    trimmed, full = _pair(
        vision_encoder=no_dropout, audio_encoder=no_dropout, vision_adapter=adapter, audio_adapter=adapter,
        text_adapter=dataclasses.replace(adapter, num_blocks=None), dropout=0.0,
    )
    for model in (trimmed, full):
        if frozen:
            model.freeze_knowledge()
        model.train()
        model.knowledge["t"].encoder.bert.eval()  # BERT's own dropout off: the only randomness left
    batch = short_batch()
    got, want = fusion_step(trimmed, batch).loss, fusion_step(full, batch).loss
    got.backward(), want.backward()
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    full_parameters = dict(full.named_parameters())
    checked = 0
    for name, parameter in trimmed.named_parameters():
        if parameter.grad is None:
            assert full_parameters[name].grad is None, name
            continue
        torch.testing.assert_close(parameter.grad, full_parameters[name].grad, rtol=1e-4, atol=1e-6, msg=name)
        checked += 1
    assert checked > 50
    # the position embeddings of cut steps get no gradient in either path
    assert torch.all(trimmed.knowledge["a"].encoder.position_embedding.grad[6:] == 0)


def _encoded_lengths(model):
    lengths = {}
    hooks = [
        model.knowledge[m].encoder.register_forward_hook(
            lambda module, args, output, m=m: lengths.__setitem__(m, output[-1].shape[1])
        )
        for m in "tva"
    ]
    model.eval()(**short_batch().inputs)
    for hook in hooks:
        hook.remove()
    return lengths


def test_trimming_runs_the_encoders_on_the_cut_length_only():
    assert _encoded_lengths(tiny_model()) == {"t": 5, "v": 3, "a": 6}
    assert _encoded_lengths(tiny_model(trim_padding=False)) == {"t": L_T, "v": L_V, "a": L_A}


def test_no_trimming_in_the_authors_padding_mode():
    """padding="all_steps" averages over every step and feeds padded steps to the length projection."""
    assert _encoded_lengths(tiny_model(padding="all_steps")) == {"t": L_T, "v": L_V, "a": L_A}
