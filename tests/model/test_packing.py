"""Packed tokens: each row's steps up to its last valid one, row-major; unpacking puts zeros after them."""

import torch

from kuda_pipeline.model.packing import Packing


def test_pack_keeps_each_rows_steps_up_to_its_last_valid_one_and_unpack_restores_them():
    valid = torch.tensor([[True, False, True, False], [False, False, False, False], [True, True, False, False]])
    packing = Packing(valid)  # row 0: steps 0-2 (step 1 is not valid, but before the last valid one); row 1: none
    assert packing.index.tolist() == [0, 1, 2, 8, 9]
    assert packing.positions.tolist() == [0, 1, 2, 0, 1]
    x = torch.arange(3 * 4 * 2, dtype=torch.float32).reshape(3, 4, 2)
    packed = packing.pack(x)
    assert torch.equal(packed, torch.stack([x[0, 0], x[0, 1], x[0, 2], x[2, 0], x[2, 1]]))
    inside = torch.tensor([[1, 1, 1, 0], [0, 0, 0, 0], [1, 1, 0, 0]], dtype=torch.bool)
    assert torch.equal(packing.unpack(packed), x * inside[..., None])


def test_unpack_passes_gradients_to_the_packed_tokens_only():
    packing = Packing(torch.tensor([[True, True, False], [True, False, False]]))
    tokens = torch.randn(3, 4, requires_grad=True)
    packing.unpack(tokens).sum().backward()
    assert torch.equal(tokens.grad, torch.ones(3, 4))
