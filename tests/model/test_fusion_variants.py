"""Every fusion of Table 7 behind one interface: shapes, gradients, masking, the math of each, modality subsets."""

import dataclasses
import re

import pytest
import torch
from tiny_models import B, L_T, tiny_batch, tiny_config, tiny_model

from kuda_pipeline.model.config import FUSIONS
from kuda_pipeline.model.fusion import FusionModule
from kuda_pipeline.model.fusion_variants import FUSION_MODULES
from kuda_pipeline.model.objectives import fusion_step

D_F = 16  # fusion_dim of tiny_config


def test_factory_covers_every_configurable_fusion():
    assert tuple(FUSION_MODULES) == FUSIONS == ("daf", "concat", "add", "tfn", "lmf", "cmt")
    assert all(issubclass(module, FusionModule) for module in FUSION_MODULES.values())
    assert [name for name, module in FUSION_MODULES.items() if module.uses_ratios] == ["daf"]


@pytest.mark.parametrize("fusion", FUSIONS)
def test_output_shapes_ratios_and_finite_ce_loss(fusion):
    model, batch = tiny_model(fusion=fusion).train(), tiny_batch()
    output = model(**batch.inputs, label=batch.label)
    assert isinstance(model.fusion, FUSION_MODULES[fusion])
    assert output.prediction.shape == (B,) and output.fused.shape == (B, D_F)
    assert {m: h.shape for m, h in output.projected.items()} == {m: (B, D_F) for m in "tva"}
    assert torch.isfinite(output.ce_loss) and output.ce_loss.item() > 0
    assert (output.ratios is not None) == (fusion == "daf")


@pytest.mark.parametrize("fusion", FUSIONS)
def test_gradients_reach_every_projector_and_the_head(fusion):
    model = tiny_model(fusion=fusion).train()
    fusion_step(model, tiny_batch()).loss.backward()
    for prefix in ("fusion.projectors.t.", "fusion.projectors.v.", "fusion.projectors.a.", "head."):
        grads = {n: p.grad for n, p in model.named_parameters() if n.startswith(prefix)}
        assert grads and all(g is not None and g.abs().sum() > 0 for g in grads.values()), (fusion, prefix)
    fusion_only = [p for n, p in model.fusion.named_parameters() if not n.startswith("projectors.")]
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in fusion_only), fusion


@pytest.mark.parametrize("fusion", FUSIONS)
def test_padded_vision_and_audio_steps_change_nothing(fusion):
    model = tiny_model(fusion=fusion).eval()
    batch = tiny_batch()
    perturbed = dataclasses.replace(
        batch,
        vision=torch.where(batch.vision_mask[..., None], batch.vision, torch.full_like(batch.vision, 1e4)),
        audio=torch.where(batch.audio_mask[..., None], batch.audio, torch.randn_like(batch.audio) * 100),
    )
    with torch.no_grad():
        reference, changed = model(**batch.inputs), model(**perturbed.inputs)
        valid_change = model(**dataclasses.replace(batch, audio=batch.audio + 1.0).inputs)
    assert not torch.equal(perturbed.vision, batch.vision) and not torch.equal(perturbed.audio, batch.audio)
    torch.testing.assert_close(changed.prediction, reference.prediction, rtol=0, atol=1e-6)
    torch.testing.assert_close(changed.fused, reference.fused, rtol=0, atol=1e-6)
    torch.testing.assert_close(changed.ce_loss, reference.ce_loss, rtol=0, atol=1e-6)
    for m in "tva":
        torch.testing.assert_close(changed.unimodal_predictions[m], reference.unimodal_predictions[m], rtol=0, atol=1e-6)
        torch.testing.assert_close(changed.projected[m], reference.projected[m], rtol=0, atol=1e-6)
    assert (valid_change.prediction - reference.prediction).abs().max() > 1e-6
    assert (valid_change.unimodal_predictions["a"] - reference.unimodal_predictions["a"]).abs().max() > 1e-4


@pytest.mark.parametrize("fusion", ["daf", "cmt"])
def test_attention_fusions_return_maps_per_block(fusion):
    model = tiny_model(fusion=fusion).eval()
    with torch.no_grad():
        plain, output = model(**tiny_batch().inputs), model(**tiny_batch().inputs, return_attention=True)
    keys = "tva" if fusion == "daf" else "va"
    assert {m: a.shape for m, a in output.attention.items()} == {m: (B, 2, L_T, L_T) for m in keys}
    torch.testing.assert_close(output.attention["v"].sum(-1), torch.ones(B, 2, L_T))
    torch.testing.assert_close(output.prediction, plain.prediction)


@pytest.mark.parametrize("fusion", ["concat", "add", "tfn", "lmf"])
def test_fusions_without_attention_return_no_maps(fusion):
    assert tiny_model(fusion=fusion).eval()(**tiny_batch().inputs, return_attention=True).attention is None


def fusion_inputs(model):
    """The projected Ĥ_m (B, L_f, d_f) the fusion of `model` sees on the tiny batch (eval mode)."""
    batch = tiny_batch()
    unimodal = {m: encoder(**batch.inputs) for m, encoder in model.knowledge.items()}
    return model.fusion(unimodal, None)


def test_addition_is_the_sum_and_concatenation_a_linear_map():
    with torch.no_grad():
        add = fusion_inputs(tiny_model(fusion="add").eval())
        concat_model = tiny_model(fusion="concat").eval()
        concat = fusion_inputs(concat_model)
    torch.testing.assert_close(add.fused, add.projected["t"] + add.projected["v"] + add.projected["a"])
    stacked = torch.cat([concat.projected[m] for m in "tva"], dim=-1)  # (B, L_f, 3 d_f)
    linear = concat_model.fusion.linear
    assert linear.weight.shape == (D_F, 3 * D_F)
    torch.testing.assert_close(concat.fused, stacked @ linear.weight.T + linear.bias)


def test_tensor_fusion_is_the_outer_product_of_the_padded_pooled_vectors():
    model = tiny_model(fusion="tfn", tfn_dim=3).eval()
    fusion = model.fusion
    with torch.no_grad():
        out = fusion_inputs(model)
        z = {m: torch.cat([fusion.reducers[m](out.projected[m].mean(1)), torch.ones(B, 1)], -1) for m in "tva"}
        product = torch.einsum("bi,bj,bk->bijk", z["t"], z["v"], z["a"]).reshape(B, -1)  # (B, 4^3)
    assert fusion.output.in_features == 4**3 and out.fused.shape == (B, 1, D_F)
    torch.testing.assert_close(out.fused[:, 0], fusion.output(product))


def test_low_rank_fusion_equals_a_tensor_fusion_with_a_rank_r_weight():
    model = tiny_model(fusion="lmf", lmf_rank=3).eval()
    fusion = model.fusion
    assert {m: tuple(f.shape) for m, f in fusion.factors.items()} == {m: (3, D_F + 1, D_F) for m in "tva"}
    with torch.no_grad():
        out = fusion_inputs(model)
        z = {m: torch.cat([out.projected[m].mean(1), torch.ones(B, 1)], -1) for m in "tva"}
        f = fusion.factors
        weight = torch.einsum("r,rio,rjo,rko->ijko", fusion.rank_weights[0], f["t"], f["v"], f["a"])
        expected = torch.einsum("bi,bj,bk,ijko->bo", z["t"], z["v"], z["a"], weight) + fusion.bias
    assert out.fused.shape == (B, 1, D_F)
    torch.testing.assert_close(out.fused[:, 0], expected)


def test_text_centred_fusion_starts_from_text_and_attends_only_to_the_others():
    model = tiny_model(fusion="cmt").eval()
    block = model.fusion.blocks[0]
    assert len(model.fusion.blocks) == 2 and list(block.attention) == ["v", "a"]
    with torch.no_grad():
        out = fusion_inputs(model)
        x = out.projected["t"]
        for block in model.fusion.blocks:
            x, _ = block(x, {m: out.projected[m] for m in "va"}, False)
    torch.testing.assert_close(out.fused, x)


@pytest.mark.parametrize("fusion", FUSIONS)
def test_text_audio_subset_builds_no_vision_parameters(fusion):
    model = tiny_model(fusion=fusion, modalities=("t", "a")).train()
    names = [name for name, _ in model.named_parameters()] + [name for name, _ in model.named_modules()]
    assert not any("v" in name.split(".") for name in names), fusion
    batch = tiny_batch()
    output = model(**batch.inputs, label=batch.label)
    assert set(output.projected) == {"t", "a"} and output.prediction.shape == (B,)
    assert torch.isfinite(output.ce_loss)


@pytest.mark.parametrize("fusion", ["daf", "concat", "add", "tfn", "lmf"])
def test_vision_audio_subset_needs_no_text_encoder(fusion):
    torch.manual_seed(0)
    model = tiny_model(fusion=fusion, modalities=("v", "a"))
    assert list(model.knowledge) == ["v", "a"] and not any("t" in n.split(".") for n, _ in model.named_parameters())
    batch = tiny_batch()
    assert model(**batch.inputs, label=batch.label).prediction.shape == (B,)


def test_text_centred_fusion_needs_text_and_another_modality():
    for modalities in (("v", "a"), ("t",)):
        message = rf"fusion='cmt' .* needs 't' .* got modalities={re.escape(repr(modalities))}"
        with pytest.raises(ValueError, match=message):
            tiny_config(fusion="cmt", modalities=modalities)


def test_unknown_fusion_lists_the_choices():
    message = r"fusion must be one of \('daf', 'concat', 'add', 'tfn', 'lmf', 'cmt'\), got 'mult'"
    with pytest.raises(ValueError, match=message):
        tiny_config(fusion="mult")


def test_layer_norm_eps_reaches_the_three_weighting_norms_of_every_block():
    model = tiny_model(layer_norm_eps=1e-3)
    norms = [getattr(block, name) for block in model.fusion.blocks
             for name in ("fusion_norm", "self_attention_norm", "feed_forward_norm")]
    assert len(norms) == 6 and all(norm.eps == 1e-3 for norm in norms)
    assert all(block.weighting_norm.eps == 1e-5 for block in model.fusion.blocks)
