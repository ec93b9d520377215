"""The assembled model: shapes, ratios, masking, freezing, knowledge loading, options, objectives."""

import math

import pytest
import torch
from tiny_models import B, D_V, L_T, L_V, stage1_states, tiny_batch, tiny_config, tiny_kuda_bert, tiny_model

from kuda_pipeline.model.knowledge import UnimodalKnowledgeModel
from kuda_pipeline.model.kuda import KuDA
from kuda_pipeline.model.losses import task_loss
from kuda_pipeline.model.objectives import fusion_step, knowledge_step


def test_training_forward_shapes_and_ratios():
    model = tiny_model().train()
    batch = tiny_batch()
    output = model(**batch.inputs, label=batch.label)
    assert output.prediction.shape == (B,)
    assert {m: p.shape for m, p in output.unimodal_predictions.items()} == {m: (B,) for m in "tva"}
    assert output.ce_loss.shape == () and output.ce_loss.item() > 0
    assert output.fused.shape == (B, 16)
    assert {m: h.shape for m, h in output.projected.items()} == {m: (B, 16) for m in "tva"}
    assert output.attention is None
    exponentials = {m: torch.exp(-2.0 * (p - batch.label) ** 2) for m, p in output.unimodal_predictions.items()}
    total = sum(exponentials.values())
    for m in "tva":
        torch.testing.assert_close(output.ratios[m], exponentials[m] / total)
    torch.testing.assert_close(sum(output.ratios.values()), torch.ones(B))
    with pytest.raises(ValueError, match=r"training mode needs `label` for the sentiment ratios"):
        model(**batch.inputs)


def test_attention_maps_per_modality_and_block_when_asked():
    model = tiny_model().eval()
    with torch.no_grad():
        plain = model(**tiny_batch().inputs)
        output = model(**tiny_batch().inputs, return_attention=True)
    assert {m: a.shape for m, a in output.attention.items()} == {m: (B, 2, L_T, L_T) for m in "tva"}
    torch.testing.assert_close(output.attention["a"].sum(-1), torch.ones(B, 2, L_T))
    torch.testing.assert_close(output.prediction, plain.prediction)


def trained_modality_norms(model: KuDA) -> KuDA:
    """Give the LN_m of eq. 10 non-trivial affine parameters, as training does (at init LN_m(2 Z_m) = Z_m)."""
    generator = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for block in model.fusion.blocks:
            for norm in block.modality_norms.values():
                norm.weight.copy_(1 + torch.randn(norm.weight.shape, generator=generator))
                norm.bias.copy_(torch.randn(norm.bias.shape, generator=generator))
    return model


def test_eval_ratios_are_one_or_skipped():
    batch = tiny_batch()
    with torch.no_grad():
        one = trained_modality_norms(tiny_model()).eval()(**batch.inputs)
        skip = trained_modality_norms(tiny_model(test_ratio="skip")).eval()(**batch.inputs)
    assert all(torch.equal(r, torch.ones(B)) for r in one.ratios.values())
    assert skip.ratios is None
    torch.testing.assert_close(one.unimodal_predictions["v"], skip.unimodal_predictions["v"])
    assert (one.prediction - skip.prediction).abs().max() > 1e-4


def test_without_sentiment_ratio_training_ratios_are_one():
    output = tiny_model(use_sentiment_ratio=False).train()(**tiny_batch().inputs)
    assert all(torch.equal(r, torch.ones(B)) for r in output.ratios.values())


@pytest.mark.parametrize("dropout_on", [True, False])
def test_frozen_knowledge_keeps_adapters_and_decoders_bit_identical(dropout_on):
    model = tiny_model(frozen_adapter_dropout=dropout_on).freeze_knowledge().train()
    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if ".adapter." in n or ".decoder." in n}
    trainable = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    assert frozen and not set(frozen) & set(trainable)
    assert all(model.knowledge[m].adapter.training == dropout_on == model.knowledge[m].decoder.training
               for m in "tva")
    assert model.knowledge["v"].encoder.training and model.fusion.training
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    fusion_step(model, tiny_batch()).loss.backward()
    optimizer.step()
    parameters = dict(model.named_parameters())
    for name, before in frozen.items():
        assert parameters[name].grad is None and torch.equal(parameters[name], before), name
    for prefix in ("knowledge.t.encoder.bert.encoder.", "knowledge.v.encoder.", "knowledge.a.encoder.",
                   "fusion.projectors.", "fusion.blocks.", "head."):
        changed = [n for n, before in trainable.items() if n.startswith(prefix) and not torch.equal(parameters[n], before)]
        assert changed, prefix


def test_load_knowledge_round_trip_from_stage1_models():
    model = tiny_model(seed=0)
    states = stage1_states(model.config, seed=1)
    report = model.load_knowledge(states)
    assert report.skipped == {}
    assert len(report.loaded) == sum(len(s) for s in states.values())
    for m in "tva":
        assert model.knowledge_state_dict(m).keys() == states[m].keys()
        for key, value in states[m].items():
            assert torch.equal(model.knowledge_state_dict(m)[key], value), (m, key)


def test_load_knowledge_skips_and_reports_shape_mismatch():
    model = tiny_model()
    source = tiny_config(vision_dim=7, vision_length=9)
    torch.manual_seed(2)
    state = UnimodalKnowledgeModel(source, "v").state_dict()
    report = model.load_knowledge({"v": state})
    assert report.skipped == {  # whole layers: the bias, whose shape fits, stays with its weight
        "v.encoder.input_projection": {"weight": ((16, 7), (16, D_V)), "bias": ((16,), (16,))},
        "v.encoder.position_embedding": {"position_embedding": ((9, 16), (L_V, 16))},
    }
    assert not any(key.startswith("v.encoder.input_projection") for key in report.loaded)
    assert "v.encoder.layers.0.attention.query.weight" in report.loaded
    before = tiny_model().knowledge_state_dict("v")["encoder.input_projection.bias"]
    assert torch.equal(model.knowledge_state_dict("v")["encoder.input_projection.bias"], before)
    assert not torch.equal(before, state["encoder.input_projection.bias"])
    assert torch.equal(model.knowledge_state_dict("v")["adapter.blocks.1.up.weight"], state["adapter.blocks.1.up.weight"])
    model.eval()(**tiny_batch().inputs)  # the model still runs on the target's shapes


def test_load_knowledge_rejects_unknown_missing_keys_and_modalities():
    model = tiny_model(modalities=("t", "a"))
    state = dict(model.knowledge_state_dict("a"))
    with pytest.raises(ValueError, match=r"unexpected 1 \[extra.weight\]"):
        model.load_knowledge({"a": {**state, "extra.weight": torch.zeros(1)}})
    state.pop("decoder.mlp.0.weight")
    with pytest.raises(ValueError, match=r"missing 1 \[decoder.mlp.0.weight\]"):
        model.load_knowledge({"a": state})
    with pytest.raises(ValueError, match=r"modalities \['v'\] not in the model"):
        model.load_knowledge({"v": {}})


def test_fusion_blocks_configures_the_number_of_blocks():
    assert len(tiny_model(fusion_blocks=1).fusion.blocks) == 1
    assert len(tiny_model(fusion_blocks=4).fusion.blocks) == 4


def test_modality_subset_builds_nothing_for_absent_modalities():
    model = tiny_model(modalities=("t", "a"))
    names = [name for name, _ in model.named_modules()]
    assert list(model.knowledge) == ["t", "a"] and list(model.fusion.projectors) == ["t", "a"]
    assert not any("v" in name.split(".") for name in names)
    batch = tiny_batch()
    output = model.train()(**batch.inputs, label=batch.label)
    assert set(output.ratios) == set(output.unimodal_predictions) == {"t", "a"}
    torch.testing.assert_close(output.ratios["t"] + output.ratios["a"], torch.ones(B))


def test_text_modality_needs_a_deep_enough_text_encoder():
    with pytest.raises(ValueError, match=r"checkpoint has 4 hidden layers"):
        KuDA(tiny_config(text_injection_layers=(2, 5)), tiny_kuda_bert())
    with pytest.raises(ValueError, match=r"modality 't' needs a text encoder"):
        KuDA(tiny_config())


def test_knowledge_step_uses_the_unimodal_label():
    torch.manual_seed(0)
    model = UnimodalKnowledgeModel(tiny_config(), "v").eval()
    batch = tiny_batch()
    step = knowledge_step(model, batch)
    expected = task_loss(model(**batch.inputs).prediction, batch.unimodal_labels["v"], "mse")
    assert step.loss.item() == pytest.approx(expected.item(), rel=1e-6)
    assert set(step.predictions) == {"prediction"} and torch.equal(step.targets["label"], batch.unimodal_labels["v"])
    assert step.parts == {"task": pytest.approx(expected.item(), rel=1e-6)}
    with pytest.raises(ValueError, match=r"modality 'a' needs unimodal labels .* has \['t', 'v'\]"):
        knowledge_step(UnimodalKnowledgeModel(tiny_config(), "a"), batch)


def test_fusion_step_adds_the_weighted_ce_loss():
    model = tiny_model().eval()
    batch = tiny_batch()
    with torch.no_grad():
        step = fusion_step(model, batch)
        output = model(**batch.inputs)
    expected = (output.prediction - batch.label).abs().mean().item() + 0.1 * output.ce_loss.item()
    assert step.loss.item() == pytest.approx(expected, rel=1e-5)
    assert set(step.predictions) == {"prediction", "pred_t", "pred_v", "pred_a"}
    assert set(step.targets) == {"label", "label_t", "label_v"}
    assert math.isclose(step.parts["task"] + 0.1 * step.parts["ce"], step.loss.item(), rel_tol=1e-5)
