"""Padding trimming: cut after the batch's last valid step, or run sub-batches of rows of similar length each cut
after its own longest row; same outputs and gradients as the full padded length."""

import dataclasses
import itertools

import pytest
import torch
from tiny_models import B, D_A, D_V, L_A, L_T, L_V, tiny_model

from kuda_pipeline.data.dataset import Batch, padding_mask
from kuda_pipeline.model.config import AdapterConfig, SequenceEncoderConfig
from kuda_pipeline.model.objectives import fusion_step
from kuda_pipeline.model.config import KudaConfig
from kuda_pipeline.model.trimming import bucket_plan, pad_to_length, trim_padding, trimmed_length, valid_lengths

BUCKETS = [1, 2, 4, 20]  # 1: trimming alone; 20: more sub-batches than rows


def short_batch(text=(5, 2, 4), vision=(3, 0, 1), audio=(6, 2, 1)) -> Batch:
    """Every modality shorter than its padded length in every row; padded inputs are large garbage."""
    generator = torch.Generator().manual_seed(3)
    rows = len(text)
    text_valid = padding_mask(torch.tensor(text), L_T)
    ids = torch.randint(1, 100, (rows, L_T), generator=generator)  # padded ids too: only the mask marks padding
    vision_mask, audio_mask = padding_mask(torch.tensor(vision), L_V), padding_mask(torch.tensor(audio), L_A)
    return Batch(
        text=torch.stack([ids, text_valid.long(), torch.zeros_like(ids)], dim=1),
        vision=torch.randn(rows, L_V, D_V, generator=generator) + 50 * ~vision_mask[..., None],
        vision_mask=vision_mask,
        audio=torch.randn(rows, L_A, D_A, generator=generator) + 50 * ~audio_mask[..., None],
        audio_mask=audio_mask,
        label=torch.linspace(-0.8, 0.5, rows),
        index=torch.arange(rows),
    )


def varied_batch() -> Batch:
    """Eight rows of very different lengths, in no order, one vision row without valid steps, one full audio row."""
    return short_batch(text=(2, 8, 3, 1, 7, 2, 5, 4), vision=(1, 6, 0, 2, 5, 1, 3, 1),
                       audio=(9, 1, 2, 10, 3, 1, 6, 2))


BATCHES = {"short": short_batch, "varied": varied_batch}


def test_trimmed_length_is_one_past_the_last_valid_step_of_any_row():
    valid = torch.tensor([[True, False, True, False, False], [True, True, False, False, False]])
    assert trimmed_length(valid) == 3  # not a prefix: the last valid step of row 0 decides
    assert trimmed_length(torch.zeros(2, 4, dtype=torch.bool)) == 1
    inputs = torch.arange(2 * 3 * 5).reshape(2, 3, 5)
    cut, cut_valid = trim_padding(inputs, valid, length_dim=2)
    assert cut.shape == (2, 3, 3) and torch.equal(cut, inputs[:, :, :3]) and torch.equal(cut_valid, valid[:, :3])
    assert torch.equal(pad_to_length(torch.ones(2, 3, 4), 5)[:, 3:], torch.zeros(2, 2, 4))


def test_valid_lengths_are_one_past_each_rows_last_valid_step():
    valid = torch.tensor([[True, False, True, False], [False, False, False, False], [True, True, True, True]])
    assert valid_lengths(valid).tolist() == [3, 0, 4]


def test_bucket_plan_sorts_rows_by_length_and_cuts_where_fewest_steps_run():
    lengths = torch.tensor([5, 30, 1, 0, 29, 7, 8, 400, 3])
    order, plan = bucket_plan(lengths, 3)
    assert order.tolist() == [7, 1, 4, 6, 5, 0, 8, 2, 3]  # longest first, ties in row order
    assert plan == [(0, 1, 400), (1, 3, 30), (3, 9, 8)]  # 400 + 2 x 30 + 6 x 8 = 508 steps, not 9 x 400
    assert bucket_plan(lengths, 1)[1] == [(0, 9, 400)]
    assert [bucket.length for bucket in bucket_plan(lengths, 20)[1]] == [400, 30, 29, 8, 7, 5, 3, 1]  # 0 runs as 1
    assert bucket_plan(torch.tensor([4, 4, 4]), 4)[1] == [(0, 3, 4)]  # nothing to gain: one sub-batch


def test_bucket_plan_is_the_cheapest_of_every_split():
    generator = torch.Generator().manual_seed(0)
    for _ in range(20):
        lengths = torch.randint(0, 50, (7,), generator=generator)
        ordered = sorted((max(1, x) for x in lengths.tolist()), reverse=True)
        for buckets in (1, 2, 3):
            _, plan = bucket_plan(lengths, buckets)
            cheapest = min(
                sum((stop - start) * ordered[start] for start, stop in zip((0, *cuts), (*cuts, 7)))
                for cuts in itertools.combinations(range(1, 7), buckets - 1)
            )
            assert len(plan) <= buckets and plan[0].start == 0 and plan[-1].stop == 7
            assert all(a.stop == b.start for a, b in zip(plan, plan[1:]))
            assert sum((b.stop - b.start) * b.length for b in plan) == cheapest


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "4"])
def test_length_buckets_must_be_a_positive_integer(bad):
    with pytest.raises(ValueError, match=r"KudaConfig.length_buckets must be a positive integer, got"):
        KudaConfig(text_length=1, vision_length=1, vision_dim=1, audio_length=1, audio_dim=1, length_buckets=bad)


def _pair(buckets=4, **overrides):
    trimmed, full = tiny_model(length_buckets=buckets, **overrides), tiny_model(trim_padding=False, **overrides)
    full.load_state_dict(trimmed.state_dict())
    return trimmed, full


@pytest.mark.parametrize("batch_name", sorted(BATCHES))
@pytest.mark.parametrize("buckets", BUCKETS)
@pytest.mark.parametrize("adapter_norm", ["per_block", "shared"])
def test_trimming_gives_the_same_outputs_in_evaluation(adapter_norm, buckets, batch_name):
    trimmed, full = _pair(buckets, adapter_norm=adapter_norm)
    batch = BATCHES[batch_name]()
    with torch.no_grad():
        got, want = trimmed.eval()(**batch.inputs), full.eval()(**batch.inputs)
    assert got.unimodal_predictions.keys() == want.unimodal_predictions.keys()
    torch.testing.assert_close(got.prediction, want.prediction, rtol=1e-5, atol=1e-6)
    for m in "tva":
        torch.testing.assert_close(got.unimodal_predictions[m], want.unimodal_predictions[m], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(got.projected[m], want.projected[m], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(got.ce_loss, want.ce_loss, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("batch_name", sorted(BATCHES))
@pytest.mark.parametrize("buckets", BUCKETS)
@pytest.mark.parametrize("frozen", [False, True])
def test_trimming_gives_the_same_loss_and_gradients_in_training(frozen, buckets, batch_name):
    no_dropout = SequenceEncoderConfig(
        hidden_size=16, num_layers=3, num_heads=2, ffn_size=8, dropout=0.0, attention_dropout=0.0
    )
    adapter = AdapterConfig(num_blocks=2, num_heads=2, dropout=0.0, attention_dropout=0.0)
    trimmed, full = _pair(
        buckets,
        vision_encoder=no_dropout, audio_encoder=no_dropout, vision_adapter=adapter, audio_adapter=adapter,
        text_adapter=dataclasses.replace(adapter, num_blocks=None), dropout=0.0,
    )
    for model in (trimmed, full):
        if frozen:
            model.freeze_knowledge()
        model.train()
        model.knowledge["t"].encoder.bert.eval()  # BERT's own dropout off: the only randomness left
    batch = BATCHES[batch_name]()
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
    longest_audio = int(batch.audio_mask.sum(1).max())
    assert torch.all(trimmed.knowledge["a"].encoder.position_embedding.grad[longest_audio:] == 0)


def _encoded_shapes(model, batch=None):
    """Modality -> the (rows, steps) of each adapter call of one forward pass (the encoder's, for vision/audio,
    run with it; BERT runs once on packed tokens, `_bert_token_counts`)."""
    shapes = {m: [] for m in "tva"}
    hooks = [
        model.knowledge[m].adapter.register_forward_hook(
            lambda module, args, output, m=m: shapes[m].append(tuple(output.shape[:2]))
        )
        for m in "tva"
    ]
    model.eval()(**(batch or short_batch()).inputs)
    for hook in hooks:
        hook.remove()
    return shapes


def _bert_token_shapes(model, batch):
    """The (rows, steps) of each call of BERT's embeddings in one forward pass."""
    shapes = []
    embeddings = model.knowledge["t"].encoder.bert.embeddings
    hook = embeddings.register_forward_hook(lambda module, args, output: shapes.append(tuple(output.shape[:2])))
    model.eval()(**batch.inputs)
    hook.remove()
    return shapes


def test_trimming_runs_the_encoders_on_the_cut_length_only():
    assert _encoded_shapes(tiny_model(length_buckets=1)) == {"t": [(B, 5)], "v": [(B, 3)], "a": [(B, 6)]}
    assert _encoded_shapes(tiny_model(trim_padding=False)) == {"t": [(B, L_T)], "v": [(B, L_V)], "a": [(B, L_A)]}


def test_length_buckets_run_each_sub_batch_on_its_own_longest_row():
    """varied_batch: text (2, 8, 3, 1, 7, 2, 5, 4), vision (1, 6, 0, 2, 5, 1, 3, 1), audio (9, 1, 2, 10, 3, 1, 6, 2)."""
    shapes = _encoded_shapes(tiny_model(length_buckets=3), varied_batch())
    assert shapes == {"t": [(2, 8), (3, 5), (3, 2)], "v": [(2, 6), (2, 3), (4, 1)], "a": [(2, 10), (2, 6), (4, 2)]}


@pytest.mark.parametrize("buckets", [1, 3])
def test_bert_runs_once_on_the_packed_tokens_only(buckets):
    """Text lengths (2, 8, 3, 1, 7, 2, 5, 4): 32 tokens of 64 padded steps, one BERT call whatever the buckets."""
    assert _bert_token_shapes(tiny_model(length_buckets=buckets), varied_batch()) == [(1, 32)]
    assert _bert_token_shapes(tiny_model(trim_padding=False), varied_batch()) == [(8, L_T)]


def test_no_trimming_in_the_authors_padding_mode():
    """padding="all_steps" averages over every step and feeds padded steps to the length projection."""
    assert _encoded_shapes(tiny_model(padding="all_steps", length_buckets=4)) == {
        "t": [(B, L_T)], "v": [(B, L_V)], "a": [(B, L_A)]
    }


def test_packed_text_path_hands_sub_batches_only_the_hidden_states_read():
    """Tiny BERT: 4 layers, injection layers (2, 4): h^0, h^2 and h^4 are read; h^1 and h^3 are not copied."""
    model = tiny_model(text_injection_layers=(2, 4))
    assert model.knowledge["t"].states_read(5) == {0, 2, 4}
    without_injection = tiny_model(text_injection_layers=(2, 4), inject_intermediate_layers=False)
    assert without_injection.knowledge["t"].states_read(5) == {0, 4}
    assert tiny_model(use_adapters=False).knowledge["t"].states_read(5) == {4}
