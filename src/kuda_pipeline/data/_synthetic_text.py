"""Sentences whose sentiment words carry a text label, in Chinese with a word-for-word English rendering.

Every Chinese word is made of characters that the embedded (uncased English) BERT vocabulary
holds; the English words are whole tokens of the same vocabulary. An English corpus uses the
English side of the same lexicon, so knowledge learnt on a rendered Chinese corpus transfers.
"""

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

# (Chinese, English) pairs.
POSITIVE_WORDS = (
    ("幸福", "happy"), ("愛", "love"), ("美", "beautiful"), ("安心", "relieved"),
    ("光明", "bright"), ("和平", "peaceful"), ("秀", "excellent"), ("勝", "winning"),
)
NEGATIVE_WORDS = (
    ("不幸", "unhappy"), ("不安", "uneasy"), ("不良", "bad"), ("不和", "hostile"),
    ("不正", "unfair"), ("不美", "ugly"), ("不明", "unclear"), ("不信", "distrust"),
)
NEUTRAL_WORDS = (
    ("山", "mountain"), ("水", "water"), ("車", "car"), ("書", "book"), ("家", "home"),
    ("国", "country"), ("道", "road"), ("門", "door"), ("木", "tree"), ("月", "moon"),
    ("天", "sky"), ("人", "people"), ("海", "sea"), ("川", "river"), ("石", "stone"),
    ("村", "village"), ("街", "street"), ("城", "city"), ("島", "island"), ("馬", "horse"),
)
OPENING = (("我", "i"), ("見", "see"))
CLOSING = (("。", "."),)
_SPECIAL_TOKENS = 2  # [CLS] and [SEP]


@dataclass
class Sentences:
    """Per sample, the text in the corpus language and its English rendering."""

    text: list[str]
    english: list[str]


def check_vocabulary(tokenizer: "PreTrainedTokenizerBase", language: str) -> None:
    """Raise ValueError unless every lexicon word is known to `tokenizer` (one token per character/word)."""
    unknown = []
    for zh, en in (*POSITIVE_WORDS, *NEGATIVE_WORDS, *NEUTRAL_WORDS, *OPENING, *CLOSING):
        word, expected = (zh, list(zh)) if language == "zh" else (en, [en])
        ids = tokenizer.convert_tokens_to_ids(expected)
        if tokenizer.tokenize(word) != expected or tokenizer.unk_token_id in ids:
            unknown.append(word)
    if unknown:
        raise ValueError(
            f"the tokenizer's vocabulary lacks these {language!r} lexicon words (or splits them): {unknown}"
        )


def word_tokens(word: tuple[str, str], language: str) -> int:
    """Number of tokens of a lexicon word: one per Chinese character, one per English word."""
    return len(word[0]) if language == "zh" else 1


def max_sentiment_tokens(sentiment_words: int, language: str) -> int:
    return sentiment_words * max(word_tokens(w, language) for w in (*POSITIVE_WORDS, *NEGATIVE_WORDS))


def fixed_tokens(language: str) -> int:
    return _SPECIAL_TOKENS + sum(word_tokens(w, language) for w in (*OPENING, *CLOSING))


def draw_sentences(
    rng: np.random.Generator,
    text_steps: np.ndarray,
    steps_per_side: tuple[int, int],
    sentiment_words: int,
    text_length: int,
    language: str,
) -> Sentences:
    """One sentence per text label (in grid steps): |k| / steps_per_side * sentiment_words polar words.

    Neutral words fill a random share of the remaining room, so no sentence is truncated.
    """
    room = text_length - fixed_tokens(language) - max_sentiment_tokens(sentiment_words, language)
    if room < 1:
        raise ValueError(
            f"text_length {text_length} is too short for {sentiment_words} sentiment words in {language!r}; "
            f"it needs at least {text_length - room + 1} tokens"
        )
    negative_side, positive_side = steps_per_side
    text, english = [], []
    for k in text_steps:
        side, lexicon = (positive_side, POSITIVE_WORDS) if k > 0 else (negative_side, NEGATIVE_WORDS)
        n_polar = math.floor(abs(int(k)) / side * sentiment_words + 0.5)
        polar = [lexicon[j] for j in rng.integers(0, len(lexicon), size=n_polar)]
        neutral = [NEUTRAL_WORDS[j] for j in rng.integers(0, len(NEUTRAL_WORDS), size=rng.integers(1, room + 1))]
        middle = [(polar + neutral)[j] for j in rng.permutation(len(polar) + len(neutral))]
        words = [*OPENING, *middle, *CLOSING]
        english.append(" ".join(en for _, en in words))
        text.append("".join(zh for zh, _ in words) if language == "zh" else english[-1])
    return Sentences(text=text, english=english)
