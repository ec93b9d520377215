"""The vision/audio branch in `reference: authors_code` against an independent re-implementation of the public
code's structure (METHOD.md section 7), built from `nn.TransformerEncoderLayer`, weights mapped in: same outputs."""

import torch
from torch import nn

from kuda_pipeline.model.config import AdapterConfig, KudaConfig, SequenceEncoderConfig
from kuda_pipeline.model.knowledge import KnowledgeEncoder
from kuda_pipeline.model.layers import EncoderLayer

B, L, D, HIDDEN = 3, 6, 5, 16


def torch_layer(dim: int, heads: int, ffn: int, dropout: float) -> nn.TransformerEncoderLayer:
    return nn.TransformerEncoderLayer(dim, heads, ffn, dropout=dropout, activation="gelu", batch_first=True)


class AuthorsBranch(nn.Module):
    """Projection + positions, encoder layers, adapter blocks sharing ONE LayerNorm (also on H^g), decoder over the
    mean of every step (padding included), as METHOD.md describes the public code."""

    def __init__(self, blocks: int):
        super().__init__()
        self.projection = nn.Linear(D, HIDDEN)
        self.position = nn.Parameter(torch.randn(L, HIDDEN))
        self.layers = nn.ModuleList(torch_layer(HIDDEN, 2, 8, 0.2) for _ in range(2))
        self.norm = nn.LayerNorm(HIDDEN)
        self.down = nn.ModuleList(nn.Linear(HIDDEN, HIDDEN // 2) for _ in range(blocks))
        self.adapter_layers = nn.ModuleList(
            nn.ModuleList(torch_layer(HIDDEN // 2, 2, HIDDEN // 4, 0.1) for _ in range(2)) for _ in range(blocks))
        self.up = nn.ModuleList(nn.Linear(HIDDEN // 2, HIDDEN) for _ in range(blocks))
        self.decoder = nn.Sequential(nn.Linear(2 * HIDDEN, 8), nn.GELU(), nn.Linear(8, 4), nn.GELU(),
                                     nn.Linear(4, 2), nn.GELU(), nn.Linear(2, 1))

    def forward(self, features: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.projection(features) + self.position
        states = [hidden]
        for layer in self.layers:
            hidden = layer(hidden, src_key_padding_mask=~valid)
            states.append(hidden)
        x = states[0]
        for j, (down, layers, up) in enumerate(zip(self.down, self.adapter_layers, self.up)):
            x = self.norm(x + states[j + 1])
            inner = down(x)
            for layer in layers:
                inner = layer(inner, src_key_padding_mask=~valid)
            x = x + up(inner)
        representation = torch.cat([self.norm(states[-1]), x], dim=-1)
        return representation, self.decoder(representation.mean(dim=1)).squeeze(-1)


def map_layer(ours: EncoderLayer, theirs: nn.TransformerEncoderLayer) -> None:
    dim = theirs.self_attn.embed_dim
    with torch.no_grad():
        ours.attention.query.weight.copy_(theirs.self_attn.in_proj_weight[:dim])
        ours.attention.query.bias.copy_(theirs.self_attn.in_proj_bias[:dim])
        ours.attention.key_value.weight.copy_(theirs.self_attn.in_proj_weight[dim:])
        ours.attention.key_value.bias.copy_(theirs.self_attn.in_proj_bias[dim:])
        ours.attention.output.load_state_dict(theirs.self_attn.out_proj.state_dict())
        ours.feed_forward[0].load_state_dict(theirs.linear1.state_dict())
        ours.feed_forward[3].load_state_dict(theirs.linear2.state_dict())
        ours.attention_norm.load_state_dict(theirs.norm1.state_dict())
        ours.feed_forward_norm.load_state_dict(theirs.norm2.state_dict())


def map_branch(ours: KnowledgeEncoder, theirs: AuthorsBranch) -> None:
    with torch.no_grad():
        ours.encoder.input_projection.load_state_dict(theirs.projection.state_dict())
        ours.encoder.position_embedding.copy_(theirs.position)
        for layer, reference in zip(ours.encoder.layers, theirs.layers):
            map_layer(layer, reference)
        ours.adapter.norm.load_state_dict(theirs.norm.state_dict())
        for block, down, layers, up in zip(ours.adapter.blocks, theirs.down, theirs.adapter_layers, theirs.up):
            block.down.load_state_dict(down.state_dict())
            block.up.load_state_dict(up.state_dict())
            for layer, reference in zip(block.layers, layers):
                map_layer(layer, reference)
        linears = [m for m in ours.decoder.mlp if isinstance(m, nn.Linear)]
        for linear, reference in zip(linears, [m for m in theirs.decoder if isinstance(m, nn.Linear)]):
            linear.load_state_dict(reference.state_dict())


def branches(**overrides) -> tuple[KnowledgeEncoder, AuthorsBranch]:
    encoder = SequenceEncoderConfig(hidden_size=HIDDEN, num_layers=2, num_heads=2, ffn_size=8)
    config = KudaConfig(text_length=4, vision_length=L, vision_dim=D, audio_length=L, audio_dim=D,
                        vision_encoder=encoder, vision_adapter=AdapterConfig(num_blocks=2, num_heads=2), **overrides)
    torch.manual_seed(0)
    theirs = AuthorsBranch(blocks=2).eval()
    with torch.no_grad():  # non-trivial LayerNorm affine parameters
        for module in theirs.modules():
            if isinstance(module, nn.LayerNorm):
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.5, 0.5)
    ours = KnowledgeEncoder(config, "v").eval()
    map_branch(ours, theirs)
    return ours, theirs


def inputs() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    valid = torch.arange(L) < torch.tensor([L, 3, 1])[:, None]  # (B, L)
    features = torch.randn(B, L, D, generator=generator) * valid[..., None]  # MMSA pads with zeros
    return features, valid


def run(ours: KnowledgeEncoder, features: torch.Tensor, valid: torch.Tensor):
    batch = type("VisionBatch", (), {"vision": features, "vision_mask": valid})()
    output = ours(batch)
    return output.representation, output.prediction


def test_authors_code_mode_matches_the_public_code_structure_to_1e_5():
    ours, theirs = branches(reference="authors_code")
    features, valid = inputs()
    with torch.enable_grad():  # keeps nn.TransformerEncoderLayer off its inference fast path
        expected_representation, expected_prediction = theirs(features, valid)
        representation, prediction = run(ours, features, valid)
    torch.testing.assert_close(representation, expected_representation, rtol=0, atol=1e-5)
    torch.testing.assert_close(prediction, expected_prediction, rtol=0, atol=1e-5)


def test_masked_padding_departs_from_the_public_code_only_on_padded_samples():
    ours, theirs = branches(reference="authors_code", padding="masked")
    features, valid = inputs()
    with torch.enable_grad():
        _, expected = theirs(features, valid)
        _, prediction = run(ours, features, valid)
    torch.testing.assert_close(prediction[0], expected[0], rtol=0, atol=1e-5)  # the full-length sample
    assert (prediction[1:] - expected[1:]).abs().min() > 1e-4
