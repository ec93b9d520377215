"""Tiny models built in code, shared by the tests: KuDA settings for pipelines, BERT, KuDA, a batch, MarianMT."""

from dataclasses import dataclass

import numpy as np
import torch
from tokenizers import Tokenizer, models, pre_tokenizers, processors
from torch import nn
from torch.utils.data import DataLoader, Dataset
from transformers import AutoTokenizer, BertConfig, BertModel, MarianConfig, MarianMTModel, PreTrainedTokenizerFast

from kuda_pipeline.data.dataset import Batch, padding_mask
from kuda_pipeline.data.mmsa import ingest_mmsa
from kuda_pipeline.data.synthetic import SyntheticSpec, generate_corpus
from kuda_pipeline.model.config import AdapterConfig, KudaConfig, SequenceEncoderConfig
from kuda_pipeline.model.knowledge import UnimodalKnowledgeModel
from kuda_pipeline.model.kuda import KuDA
from kuda_pipeline.model.text_encoder import read_token_limits
from kuda_pipeline.training.config import TrainConfig

SEQUENCE = {"hidden_size": 8, "num_layers": 2, "num_heads": 2, "ffn_size": 8, "dropout": 0.1}
ADAPTER = {"num_blocks": 2, "num_heads": 2, "num_layers": 1, "dropout": 0.1}
ARCHITECTURE = dict(
    text_injection_layers=[1, 2], vision_encoder=SEQUENCE, audio_encoder=SEQUENCE, vision_adapter=ADAPTER,
    audio_adapter=ADAPTER, fusion_dim=16, fusion_blocks=1, fusion_heads=2, fusion_head_dim=8,
    fusion_ffn_size=16, head_hidden_sizes=[8], dropout=0.1,
)
TRAIN = {"epochs": 1, "batch_size": 8, "learning_rate": 1e-3, "device": "cpu", "seed": 0}


# A tiny random BERT, and a tiny KuDA on it with a batch of B = 3 samples.
B, L_T, L_V, D_V, L_A, D_A = 3, 8, 6, 5, 10, 4


def tiny_bert_config(**overrides) -> BertConfig:
    values = dict(vocab_size=100, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
                  max_position_embeddings=64)
    return BertConfig(**{**values, **overrides})


def tiny_bert(seed: int = 0, **overrides) -> BertModel:
    """A random BERT seeded with `seed`: 2 layers of width 16 by default, 4 of width 32 for the KuDA tests."""
    torch.manual_seed(seed)
    return BertModel(tiny_bert_config(**overrides))


def tiny_kuda_bert(seed: int = 0) -> BertModel:
    return tiny_bert(seed, hidden_size=32, num_hidden_layers=4, num_attention_heads=4, intermediate_size=64)


def tiny_config(**overrides) -> KudaConfig:
    encoder = SequenceEncoderConfig(hidden_size=16, num_layers=3, num_heads=2, ffn_size=8)
    values = dict(
        text_length=L_T,
        vision_length=L_V,
        vision_dim=D_V,
        audio_length=L_A,
        audio_dim=D_A,
        text_injection_layers=(2, 4),
        vision_encoder=encoder,
        audio_encoder=encoder,
        text_adapter=AdapterConfig(num_heads=2),
        vision_adapter=AdapterConfig(num_blocks=2, num_heads=2),
        audio_adapter=AdapterConfig(num_blocks=2, num_heads=2),
        fusion_dim=16,
        fusion_blocks=2,
        fusion_heads=2,
        fusion_head_dim=8,
        fusion_ffn_size=32,
        head_hidden_sizes=(8, 4),
        k=2.0,
        alpha=0.1,
    )
    return KudaConfig(**{**values, **overrides})


def tiny_model(seed: int = 0, **overrides) -> KuDA:
    config = tiny_config(**overrides)
    bert = tiny_kuda_bert(seed) if "t" in config.modalities else None
    torch.manual_seed(seed)
    return KuDA(config, bert)


def tiny_batch(seed: int = 0, vision_dim: int = D_V) -> Batch:
    generator = torch.Generator().manual_seed(seed)
    text_valid = padding_mask(torch.tensor([L_T, 5, 3]), L_T)
    ids = torch.randint(1, 100, (B, L_T), generator=generator) * text_valid
    return Batch(
        text=torch.stack([ids, text_valid.long(), torch.zeros_like(ids)], dim=1),
        vision=torch.randn(B, L_V, vision_dim, generator=generator),
        vision_mask=padding_mask(torch.tensor([L_V, 2, 0]), L_V),
        audio=torch.randn(B, L_A, D_A, generator=generator),
        audio_mask=padding_mask(torch.tensor([4, L_A, 1]), L_A),
        label=torch.tensor([0.5, -0.8, 0.1]),
        index=torch.arange(B),
        unimodal_labels={"t": torch.tensor([0.4, -1.0, 0.0]), "v": torch.tensor([0.2, -0.6, 0.6])},
    )


def stage1_states(config: KudaConfig, seed: int) -> dict[str, dict[str, torch.Tensor]]:
    states = {}
    for m in config.modalities:
        torch.manual_seed(seed)
        states[m] = UnimodalKnowledgeModel(config, m, tiny_kuda_bert(seed) if m == "t" else None).state_dict()
    return states


# A tiny MarianMT translator with a word-level tokenizer.
WORDS = "我 你 他 很 好 不 喜欢 这个 电影 音乐 开心 难过 今天 天气".split() + "i you like the movie happy sad".split()
TEXTS = [
    "我 很 好", "今天 天气 很 好 不", "你 不 喜欢 这个 电影", "他 很 开心", "音乐",
    "我 今天 很 难过", "这个 音乐 不 好", "天气 好", "你 好", "他 不 喜欢 音乐",
]


def build_tiny_marian(directory):
    """A word-level tokenizer and a random 1-layer MarianMT model (d_model 16) saved in ``directory``."""
    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2, **{word: index + 3 for index, word in enumerate(WORDS)}}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    backend.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token="<pad>", eos_token="</s>", unk_token="<unk>", model_max_length=32
    )
    config = MarianConfig(
        vocab_size=len(vocab), d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, max_position_embeddings=256,
        pad_token_id=0, eos_token_id=1, decoder_start_token_id=0, init_std=1.0,  # large weights: varied outputs
    )
    torch.manual_seed(0)
    MarianMTModel(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


# A tiny dropout regressor with shuffling loaders, for the training loop (no project model or data).
@dataclass
class TinyBatch:
    features: torch.Tensor  # (B, 4)
    label: torch.Tensor  # (B,)

    def to(self, device: torch.device) -> "TinyBatch":
        return TinyBatch(self.features.to(device), self.label.to(device))


@dataclass
class TinyStepOutput:
    loss: torch.Tensor
    predictions: dict[str, torch.Tensor]
    targets: dict[str, torch.Tensor]
    parts: dict[str, float]


class TinyDataset(Dataset):
    def __init__(self, size: int, seed: int):
        generator = torch.Generator().manual_seed(seed)
        self.features = torch.randn(size, 4, generator=generator)
        noise = 0.1 * torch.randn(size, generator=generator)
        self.labels = self.features @ torch.tensor([0.5, -1.0, 0.25, 2.0]) + noise  # (size, 4) @ (4,) -> (size,)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.features[index], self.labels[index]


def collate(items: list[tuple[torch.Tensor, torch.Tensor]]) -> TinyBatch:
    features, labels = zip(*items)
    return TinyBatch(torch.stack(features), torch.stack(labels))


def make_loader(size: int = 16, data_seed: int = 0, shuffle: bool = False, generator_seed: int | None = None):
    generator = None if generator_seed is None else torch.Generator().manual_seed(generator_seed)
    return DataLoader(TinyDataset(size, data_seed), batch_size=4, shuffle=shuffle, collate_fn=collate,
                      generator=generator)


def make_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.3), nn.Linear(8, 1))


def l1_step(model: nn.Module, batch: TinyBatch) -> TinyStepOutput:
    prediction = model(batch.features).squeeze(-1)  # (B, 1) -> (B,)
    loss = (prediction - batch.label).abs().mean()
    return TinyStepOutput(loss, {"m": prediction}, {"m": batch.label}, {"task": loss.item(), "double": 2 * loss.item()})


def mae_metric(result) -> dict[str, float]:
    return {"MAE": float(np.abs(result.predictions["m"] - result.targets["m"]).mean())}


def make_config(**overrides) -> TrainConfig:
    values = dict(epochs=4, batch_size=4, learning_rate=1e-2, weight_decay=1e-3, device="cpu", seed=7,
                  schedule_step="batch")
    return TrainConfig(**(values | overrides))


def tiny_split_arrays(bert_dir: str, seed: int) -> dict:
    """Split arrays of a 16/8/8-sample CH-SIMS-like corpus with unimodal labels, tokenised for `bert_dir`."""
    spec = SyntheticSpec(n_train=16, n_valid=8, n_test=8, text_length=16, vision_length=5, vision_dim=6,
                         audio_length=7, audio_dim=4, language="zh", seed=seed)
    raw, _ = generate_corpus(spec, AutoTokenizer.from_pretrained(bert_dir, local_files_only=True))
    return ingest_mmsa(raw, source="tiny.pkl", label_range=(-1.0, 1.0), token_limits=read_token_limits(bert_dir)).splits
