"""Fidelity options (docs/fidelity.md): `reference` sets them all, each can be set alone and changes only its part."""

import dataclasses

import pytest
import torch
from tiny_models import B, L_T, stage1_states, tiny_batch, tiny_config, tiny_model

from kuda_pipeline.model.config import REFERENCE_CHOICES, KudaConfig
from kuda_pipeline.model.knowledge import KnowledgeEncoder

OPTIONS = ("task_loss", "test_ratio", "adapter_norm", "padding")
SIZES = dict(text_length=8, vision_length=6, vision_dim=5, audio_length=10, audio_dim=4)


def options(config: KudaConfig) -> tuple:
    return tuple(getattr(config, name) for name in OPTIONS)


def test_reference_sets_every_option_and_an_explicit_option_wins():
    assert options(KudaConfig(**SIZES)) == ("mae", "one", "per_block", "masked")
    assert options(KudaConfig(**SIZES, reference="authors_code")) == ("mse", "skip", "shared", "all_steps")
    for name in OPTIONS:
        alone = KudaConfig(**SIZES, **{name: REFERENCE_CHOICES["authors_code"][name]})
        changed = {f.name for f in dataclasses.fields(KudaConfig)
                   if getattr(alone, f.name) != getattr(KudaConfig(**SIZES), f.name)}
        assert changed == {name}
        kept = KudaConfig(**SIZES, reference="authors_code", **{name: REFERENCE_CHOICES["paper"][name]})
        assert getattr(kept, name) == REFERENCE_CHOICES["paper"][name]
        assert {n: getattr(kept, n) for n in OPTIONS if n != name} == {
            n: v for n, v in REFERENCE_CHOICES["authors_code"].items() if n != name}


def test_resolved_options_survive_a_round_trip_through_plain_values():
    config = KudaConfig(**SIZES, reference="authors_code", padding="masked")
    assert KudaConfig.from_dict(dataclasses.asdict(config)) == config


@pytest.mark.parametrize(("overrides", "message"), [
    ({"reference": "code"}, r"KudaConfig.reference must be one of \('paper', 'authors_code'\), got 'code'"),
    ({"adapter_norm": "global"}, r"KudaConfig.adapter_norm must be one of \('per_block', 'shared'\), got 'global'"),
    ({"padding": "none"}, r"KudaConfig.padding must be one of \('masked', 'all_steps'\), got 'none'"),
    ({"frozen_adapter_dropout": "yes"}, r"KudaConfig.frozen_adapter_dropout must be true or false, got 'yes'"),
])
def test_bad_fidelity_values_are_named(overrides, message):
    with pytest.raises(ValueError, match=message):
        KudaConfig(**SIZES, **overrides)


def norm_parameters(model) -> dict[str, int]:
    return {name: p.numel() for name, p in model.named_parameters() if ".adapter." in name and "norm" in name
            and ".layers." not in name}


def test_shared_adapter_norm_is_one_layer_norm_per_modality_and_changes_nothing_else():
    per_block, shared = tiny_model(), tiny_model(adapter_norm="shared")
    blocks = {m: len(per_block.knowledge[m].adapter.blocks) for m in "tva"}  # 2 each
    widths = {"t": 32, "v": 16, "a": 16}
    assert sum(norm_parameters(per_block).values()) == sum(blocks[m] * 2 * widths[m] for m in "tva")
    assert norm_parameters(shared) == {f"knowledge.{m}.adapter.norm.{p}": widths[m] for m in "tva"
                                       for p in ("weight", "bias")}
    count = lambda model: sum(p.numel() for p in model.parameters())  # noqa: E731
    assert count(per_block) - count(shared) == sum((blocks[m] - 1) * 2 * widths[m] for m in "tva")
    other = lambda model: {n: p.shape for n, p in model.state_dict().items() if n not in norm_parameters(model)}  # noqa: E731
    assert other(per_block) == other(shared)


@pytest.mark.parametrize("modality", ["t", "v"])
def test_shared_norm_also_normalises_the_global_vision_and_audio_representation(modality):
    torch.manual_seed(0)
    config = tiny_config(adapter_norm="shared")
    encoder = KnowledgeEncoder(config, modality, tiny_model().knowledge["t"].encoder.bert if modality == "t" else None)
    encoder.eval()
    with torch.no_grad():
        encoder.adapter.norm.weight.uniform_(0.5, 2.0)
        encoder.adapter.norm.bias.uniform_(-1.0, 1.0)
        batch = tiny_batch()
        inputs, valid = (batch.text, batch.text[:, 1] != 0) if modality == "t" else (batch.vision, batch.vision_mask)
        global_ = encoder.encoder(inputs, valid)[-1]
        width = global_.shape[-1]
        representation = encoder(**batch.inputs).representation[..., :width]
    expected = encoder.adapter.norm(global_) if modality == "v" else global_
    torch.testing.assert_close(representation[valid], expected[valid])  # padded steps hold no meaning


@pytest.mark.parametrize("adapter_norm", ["per_block", "shared"])
def test_in_stage_two_only_a_shared_adapter_norm_trains(adapter_norm):
    model = tiny_model(adapter_norm=adapter_norm)
    model.load_knowledge(stage1_states(model.config, seed=1))
    model.freeze_knowledge()
    trainable = {n for n, p in model.named_parameters() if p.requires_grad and (".adapter." in n or ".decoder." in n)}
    expected = {f"knowledge.{m}.adapter.norm.{p}" for m in "tva" for p in ("weight", "bias")}
    assert trainable == (expected if adapter_norm == "shared" else set())


def padded_perturbation(batch):
    """The batch with other values at every padded step: text ids, vision and audio features."""
    text = batch.text.clone()
    text_valid = text[:, 1] != 0
    text[:, 0] = torch.where(text_valid, text[:, 0], torch.full_like(text[:, 0], 7))
    return dataclasses.replace(
        batch, text=text,
        vision=torch.where(batch.vision_mask[..., None], batch.vision, torch.full_like(batch.vision, 1e4)),
        audio=torch.where(batch.audio_mask[..., None], batch.audio, torch.randn_like(batch.audio) * 100),
    )


def test_padding_invariance_holds_only_in_the_masked_mode():
    batch = tiny_batch()
    assert not (batch.text[:, 1] != 0).all() and not batch.vision_mask.all()
    for padding, invariant in (("masked", True), ("all_steps", False)):
        model = tiny_model(padding=padding).eval()
        with torch.no_grad():
            reference, changed = model(**batch.inputs), model(**padded_perturbation(batch).inputs)
        differences = {m: (changed.unimodal_predictions[m] - reference.unimodal_predictions[m]).abs().max().item()
                       for m in "tva"}
        differences["fused"] = (changed.prediction - reference.prediction).abs().max().item()
        if invariant:
            assert max(differences.values()) < 1e-6, differences
        else:
            assert differences["t"] > 1e-4 and differences["fused"] > 1e-4, differences


def test_all_steps_padding_averages_over_every_step_and_changes_nothing_without_padding():
    masked, all_steps = tiny_model(padding="masked").eval(), tiny_model(padding="all_steps").eval()
    assert all(torch.equal(a, b) for a, b in zip(masked.state_dict().values(), all_steps.state_dict().values()))
    batch = tiny_batch()
    with torch.no_grad():
        representation = all_steps.knowledge["v"](**batch.inputs).representation  # (B, L_v, 2 d_v)
        decoder = all_steps.knowledge["v"].decoder
        torch.testing.assert_close(decoder(representation, batch.vision_mask), decoder.mlp(representation.mean(dim=1)))
        full = dataclasses.replace(
            batch, text=torch.stack([batch.text[:, 0].clamp(min=1), torch.ones(B, L_T, dtype=torch.long),
                                     batch.text[:, 2]], dim=1),
            vision_mask=torch.ones_like(batch.vision_mask), audio_mask=torch.ones_like(batch.audio_mask))
        torch.testing.assert_close(all_steps(**full.inputs).prediction, masked(**full.inputs).prediction, rtol=0, atol=1e-6)


def test_dropouts_default_to_the_public_code():
    model = tiny_model()  # sizes set, dropouts left at their defaults
    vision_layer = model.knowledge["v"].encoder.layers[0]
    assert (vision_layer.attention.attention_dropout, vision_layer.attention_dropout.p) == (0.2, 0.2)
    adapter_layer = model.knowledge["a"].adapter.blocks[0].layers[0]
    assert (adapter_layer.attention.attention_dropout, adapter_layer.attention_dropout.p) == (0.1, 0.1)
