"""Ablation switches of Table 5: w/o Adapter, w/o EKI, w/o SR and w/o CE Loss, w/o KIP (unfrozen knowledge)."""

import pytest
import torch
from tiny_models import B, L_A, L_T, L_V, stage1_states, tiny_batch, tiny_config, tiny_model

from kuda_pipeline.model.adapter import KnowledgeAdapter
from kuda_pipeline.model.config import FUSIONS, AdapterConfig, KudaConfig
from kuda_pipeline.model.knowledge import KnowledgeEncoder
from kuda_pipeline.model.losses import task_loss
from kuda_pipeline.model.objectives import fusion_step

WIDTHS = {"t": 32, "v": 16, "a": 16}  # d_m: tiny BERT hidden size, tiny vision/audio encoder size
LENGTHS = {"t": L_T, "v": L_V, "a": L_A}


def test_defaults_are_kuda_and_switches_come_from_dict():
    config = tiny_config()
    assert (config.use_adapters, config.inject_intermediate_layers, config.use_sentiment_ratio) == (True, True, True)
    assert (config.fusion, config.tfn_dim, config.lmf_rank) == ("daf", 16, 4)
    sizes = dict(text_length=8, vision_length=6, vision_dim=5, audio_length=10, audio_dim=4)
    values = {"use_adapters": False, "inject_intermediate_layers": False, "fusion": "tfn", "tfn_dim": 8}
    config = KudaConfig.from_dict({**sizes, **values})
    assert (config.use_adapters, config.inject_intermediate_layers, config.fusion, config.tfn_dim) == (
        False, False, "tfn", 8
    )


def test_switches_are_validated():
    with pytest.raises(ValueError, match=r"KudaConfig.use_adapters must be true or false, got 'no'"):
        tiny_config(use_adapters="no")
    with pytest.raises(ValueError, match=r"KudaConfig.inject_intermediate_layers must be true or false, got 0"):
        tiny_config(inject_intermediate_layers=0)
    with pytest.raises(ValueError, match=r"KudaConfig.tfn_dim must be a positive integer, got 0"):
        tiny_config(tfn_dim=0)
    with pytest.raises(ValueError, match=r"KudaConfig.lmf_rank must be a positive integer, got 2.5"):
        tiny_config(lmf_rank=2.5)


def test_without_adapters_h_m_is_the_global_representation_of_width_d_m():
    model = tiny_model(use_adapters=False).eval()
    assert not any("adapter" in name for name, _ in model.named_parameters())
    batch = tiny_batch()
    for m, encoder in model.knowledge.items():
        assert encoder.adapter is None and encoder.representation_size == WIDTHS[m]
        assert encoder.decoder.mlp[0].in_features == WIDTHS[m]
        assert model.fusion.projectors[m].features.in_features == WIDTHS[m]
        with torch.no_grad():
            output = encoder(**batch.inputs)
        assert output.representation.shape == (B, LENGTHS[m], WIDTHS[m])
    with torch.no_grad():
        hidden = model.knowledge["v"].encoder(batch.vision, batch.vision_mask)
        valid = batch.vision_mask  # padded steps of H_m hold no meaning (length buckets leave zeros there)
        torch.testing.assert_close(model.knowledge["v"](**batch.inputs).representation[valid], hidden[-1][valid])
    assert model(**batch.inputs).prediction.shape == (B,)


def test_without_adapters_stage_two_freezes_only_the_decoders_and_loads_stage_one():
    model = tiny_model(use_adapters=False, frozen_adapter_dropout=False)
    states = stage1_states(model.config, seed=1)
    assert not any(key.startswith("adapter.") for state in states.values() for key in state)
    assert model.load_knowledge(states).skipped == {}
    model.freeze_knowledge().train()
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    assert frozen and frozen == {n for n, _ in model.named_parameters() if ".decoder." in n}
    assert all(not encoder.decoder.training and encoder.encoder.training for encoder in model.knowledge.values())


def adapter_and_states(inject: bool):
    torch.manual_seed(0)
    adapter = KnowledgeAdapter(16, (1, 3), AdapterConfig(num_heads=2), inject=inject).eval()
    states = [torch.randn(2, 5, 16) for _ in range(4)]
    return adapter, states, torch.ones(2, 5, dtype=torch.bool)


def test_without_injection_the_adapter_reads_only_h0():
    adapter, states, valid = adapter_and_states(inject=False)
    reference = adapter(states, valid)
    other_layers = [states[0], *(torch.randn(2, 5, 16) for _ in range(3))]
    torch.testing.assert_close(adapter(other_layers, valid), reference)
    x = states[0]
    for block in adapter.blocks:
        x = block(x, None, valid)
    torch.testing.assert_close(x, reference)
    assert not torch.allclose(adapter([torch.randn(2, 5, 16), *states[1:]], valid), reference)
    injecting, _, _ = adapter_and_states(inject=True)
    assert not torch.allclose(injecting(states, valid), reference)


@pytest.mark.parametrize("inject", [True, False])
def test_perturbing_an_intermediate_encoder_layer_reaches_h_k_only_with_injection(inject):
    torch.manual_seed(0)
    encoder = KnowledgeEncoder(tiny_config(inject_intermediate_layers=inject), "v").eval()
    batch = tiny_batch()
    with torch.no_grad():
        reference = encoder(**batch.inputs).representation
        hook = encoder.encoder.layers[0].register_forward_hook(lambda module, args, output: output + 1.0)
        changed = encoder(**batch.inputs).representation
        hook.remove()
    valid = batch.vision_mask
    global_part, knowledge_part = (changed - reference)[valid].split(16, dim=-1)  # each (valid steps, d_v)
    assert global_part.abs().max() > 1e-3
    assert (knowledge_part.abs().max() > 1e-3) == inject


def test_without_injection_the_model_keeps_the_adapter_parameters_of_kuda():
    kuda = tiny_model().state_dict()
    without = tiny_model(inject_intermediate_layers=False).state_dict()
    assert kuda.keys() == without.keys() and all(kuda[k].shape == without[k].shape for k in kuda)


def test_without_sentiment_ratio_and_ce_loss_the_loss_is_the_task_loss():
    model = tiny_model(use_sentiment_ratio=False, alpha=0.0).train()
    batch = tiny_batch()
    torch.manual_seed(3)
    step = fusion_step(model, batch)
    torch.manual_seed(3)
    output = model(**batch.inputs, label=batch.label)
    assert all(torch.equal(r, torch.ones(B)) for r in output.ratios.values())
    assert step.loss.item() == pytest.approx(task_loss(output.prediction, batch.label, "mae").item(), rel=1e-6)
    assert step.parts["ce"] > 0


def test_without_knowledge_pretraining_stage_two_trains_adapters_and_decoders():
    model = tiny_model().train()
    fusion_step(model, tiny_batch()).loss.backward()
    for m in "tva":
        for part in (model.knowledge[m].adapter, model.knowledge[m].decoder):
            grads = [p.grad for p in part.parameters()]
            assert all(g is not None for g in grads) and sum(g.abs().sum() for g in grads) > 0, m


@pytest.mark.parametrize("fusion", FUSIONS)
def test_every_fusion_runs_without_adapters_or_injection(fusion):
    for switch in ({"use_adapters": False}, {"inject_intermediate_layers": False}):
        model = tiny_model(fusion=fusion, **switch).train()
        fusion_step(model, tiny_batch()).loss.backward()
        width = WIDTHS if switch.get("use_adapters") is False else {m: 2 * d for m, d in WIDTHS.items()}
        assert {m: p.features.in_features for m, p in model.fusion.projectors.items()} == width, (fusion, switch)
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.head.parameters()), (fusion, switch)


def test_a_model_without_adapters_loads_stage1_weights_and_reports_the_adapter_tensors_skipped():
    with_adapters = tiny_model()
    without = tiny_model(use_adapters=False)
    report = without.load_knowledge({m: with_adapters.knowledge_state_dict(m) for m in ("t", "v", "a")})
    skipped_adapters = [layer for layer in report.skipped if ".adapter." in f".{layer}"]
    assert skipped_adapters and all(model == () for layer in skipped_adapters
                                    for _, model in report.skipped[layer].values())
    assert "v.adapter.blocks.0.down" in report.skipped
    assert set(report.skipped["v.adapter.blocks.0.down"]) == {"weight", "bias"}
    assert "v.encoder.input_projection.weight" in report.loaded
