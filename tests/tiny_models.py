"""The tiny KuDA architecture and training settings shared by pipeline and experiments tests."""

SEQUENCE = {"hidden_size": 8, "num_layers": 2, "num_heads": 2, "ffn_size": 8, "dropout": 0.1}
ADAPTER = {"num_blocks": 2, "num_heads": 2, "num_layers": 1, "dropout": 0.1}
ARCHITECTURE = dict(
    text_injection_layers=[1, 2], vision_encoder=SEQUENCE, audio_encoder=SEQUENCE, vision_adapter=ADAPTER,
    audio_adapter=ADAPTER, fusion_dim=16, fusion_blocks=1, fusion_heads=2, fusion_head_dim=8,
    fusion_ffn_size=16, head_hidden_sizes=[8], dropout=0.1,
)
TRAIN = {"epochs": 1, "batch_size": 8, "learning_rate": 1e-3, "device": "cpu", "seed": 0}
