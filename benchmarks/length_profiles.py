"""Valid-length distributions for the benchmarks: uniform, or a profile per dataset from published statistics.

The MMSA pickles pad every sample to one length per modality, while the utterances are short and of
very different durations. A profile draws one duration factor g per sample (log-normal, mean 1,
coefficient of variation `duration_cv`), shared by the three modalities of the sample, as they
cover the same utterance:

- text: round(g * mean_tokens) valid BERT tokens ([CLS] and [SEP] included), clipped to [3, L_t];
- vision/audio: round(g / g_95 * L_m) frames, clipped to [1, L_m], where g_95 is the 95th percentile
  of g: 5 % of the samples fill the padded length (MMSA cuts longer ones there).

`mean_tokens` comes from the published mean word count of the dataset times the tokens per word of
its BERT tokenizer (an assumption, stated per profile); `duration_cv = 0.6` is an assumption too (the
papers give means, not spreads). The profiles are expressed as fractions of the dataset's padded text
length, so that they can be applied at any benchmark shape.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

Z_95 = 1.6448536  # standard normal 95th percentile


@dataclass(frozen=True)
class LengthProfile:
    """Mean valid text tokens over the dataset's padded text length, and the spread of durations."""

    name: str
    source: str
    mean_tokens: float  # mean valid BERT tokens per sample, [CLS] and [SEP] included
    padded_text_length: int  # the dataset's MMSA text length (the profile scales to the benchmark's)
    duration_cv: float = 0.6

    def sample(self, batch_size: int, lengths: tuple[int, int, int], generator: torch.Generator) -> tuple:
        """(B,) valid lengths of text, vision, audio for padded `lengths` = (L_t, L_v, L_a)."""
        sigma = math.sqrt(math.log1p(self.duration_cv**2))
        g = torch.exp(torch.randn(batch_size, generator=generator, dtype=torch.float64) * sigma - sigma**2 / 2)
        g_95 = math.exp(Z_95 * sigma - sigma**2 / 2)
        text_length, vision_length, audio_length = lengths
        tokens = g * self.mean_tokens * text_length / self.padded_text_length
        text = tokens.round().clamp(3, text_length).long()
        vision = (g / g_95 * vision_length).round().clamp(1, vision_length).long()
        audio = (g / g_95 * audio_length).round().clamp(1, audio_length).long()
        return text, vision, audio


PROFILES = {
    "sims": LengthProfile(
        "sims",
        "CH-SIMS (Yu et al., ACL 2020, dataset statistics): 2,281 segments, 15 words per segment on average; "
        "bert-base-chinese tokenises per character, assumed 1.5 characters per word: 15 * 1.5 + 2 = 24.5 "
        "tokens of the 39 padded (MMSA unaligned_39)",
        mean_tokens=24.5,
        padded_text_length=39,
    ),
    "mosi": LengthProfile(
        "mosi",
        "CMU-MOSI (Zadeh et al., IEEE Intelligent Systems 2016): 2,199 opinion segments of about 12 words; "
        "WordPiece assumed 1.3 tokens per word: 12 * 1.3 + 2 = 17.6 tokens of the 50 padded (MMSA unaligned_50)",
        mean_tokens=17.6,
        padded_text_length=50,
    ),
    "mosei": LengthProfile(
        "mosei",
        "CMU-MOSEI (Zadeh et al., ACL 2018): 23,453 sentences, 447,143 words, so 19.1 words per sentence; "
        "WordPiece assumed 1.3 tokens per word: 19.1 * 1.3 + 2 = 26.8 tokens of the 50 padded (MMSA unaligned_50)",
        mean_tokens=26.8,
        padded_text_length=50,
    ),
}
PROFILE_NAMES = ("uniform", *PROFILES)


def sample_lengths(
    profile: str, batch_size: int, lengths: tuple[int, int, int], generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(B,) valid lengths per modality: "uniform" draws each independently from 1..L_m; else `PROFILES[profile]`."""
    if profile == "uniform":
        return tuple(torch.randint(1, length + 1, (batch_size,), generator=generator) for length in lengths)
    if profile not in PROFILES:
        raise ValueError(f"unknown length profile {profile!r}; expected one of {PROFILE_NAMES}")
    return PROFILES[profile].sample(batch_size, lengths, generator)


def sample_grouped_lengths(
    profile: str, batch_size: int, lengths: tuple[int, int, int], generator: torch.Generator, mega_batches: int = 50
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(B,) valid lengths per modality of a typical length-grouped batch: a mega-bucket of `mega_batches` batches
    from `profile`, sorted by the key of `LengthGroupedBatchSampler` (sum of valid fractions), its median batch."""
    text, vision, audio = sample_lengths(profile, batch_size * mega_batches, lengths, generator)
    key = text / lengths[0] + vision / lengths[1] + audio / lengths[2]
    order = torch.argsort(key, descending=True, stable=True)
    median = order[(mega_batches // 2) * batch_size:][:batch_size]
    return text[median], vision[median], audio[median]
