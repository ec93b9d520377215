"""Unimodal and multimodal labels with a controlled dominant modality and noise modality.

Labels are drawn as integer grid steps k (label = k * step). Per sample a set S of dominant
modalities is drawn; the multimodal label is the mean of S's labels, which are all at the same
distance d from it, while every other modality is strictly farther. So S is exactly the set of
modalities "most consistent with the multimodal label" of the paper's Appendix A. A noise
modality (a polarity differing from the multimodal one) is always a non-dominant modality.
"""

from dataclasses import dataclass

import numpy as np

# (7, 3) bool: every non-empty subset of the modalities (t, v, a).
SUBSETS = np.array([[bool(mask >> m & 1) for m in range(3)] for mask in range(1, 8)])
_MAX_OFFSET_STEPS = 2
_FIT_ITERATIONS = 10_000
_FIT_TOLERANCE = 1e-4


@dataclass
class LabelSteps:
    """Labels in grid steps: multimodal (N,), unimodal (N, 3) in t, v, a order."""

    multimodal: np.ndarray
    unimodal: np.ndarray


def subset_probabilities(dominant_shares: tuple[float, float, float]) -> np.ndarray:
    """(7,) probabilities of SUBSETS whose marginals are `dominant_shares`.

    Independent Bernoulli(w_m) memberships conditioned on a non-empty set; w solves
    w_m = share_m * P(non-empty) by fixed-point iteration.
    """
    shares = np.asarray(dominant_shares, dtype=np.float64)
    if shares.shape != (3,) or np.any(shares <= 0) or np.any(shares > 1) or shares.sum() <= 1:
        raise ValueError(
            f"dominant_shares must be three values in (0, 1] summing to more than 1, got {dominant_shares}"
        )
    weights = shares.copy()
    for _ in range(_FIT_ITERATIONS):
        weights = np.minimum(shares * (1.0 - np.prod(1.0 - weights)), 1.0)
    probabilities = np.prod(np.where(SUBSETS, weights, 1.0 - weights), axis=1)
    probabilities /= probabilities.sum()
    achieved = probabilities @ SUBSETS
    if not np.allclose(achieved, shares, atol=_FIT_TOLERANCE):
        raise ValueError(f"dominant_shares {dominant_shares} cannot be met, closest is {achieved.tolist()}")
    return probabilities


def draw_label_steps(
    rng: np.random.Generator,
    n_samples: int,
    step_range: tuple[int, int],
    dominant_shares: tuple[float, float, float],
    noise_modality_share: float,
) -> LabelSteps:
    """Labels for `n_samples` samples on the integer grid [low, high] (0 inside, >= 2 steps each side)."""
    low, high = step_range
    if not (low <= -2 and high >= 2):
        raise ValueError(f"the label grid needs at least 2 steps on each side of 0, got steps {step_range}")
    probabilities = subset_probabilities(dominant_shares)
    with_non_dominant = 1.0 - probabilities[-1]
    if not 0 <= noise_modality_share <= with_non_dominant:
        raise ValueError(
            f"noise_modality_share must lie in [0, {with_non_dominant:.3f}] (the share of samples with a "
            f"non-dominant modality for these dominant_shares), got {noise_modality_share}"
        )
    dominant = SUBSETS[rng.choice(len(SUBSETS), size=n_samples, p=probabilities)]
    noisy = (dominant.sum(axis=1) < 3) & (rng.random(n_samples) * with_non_dominant < noise_modality_share)
    grid = np.arange(low, high + 1)
    multimodal = np.empty(n_samples, dtype=np.int64)
    unimodal = np.empty((n_samples, 3), dtype=np.int64)
    for i in range(n_samples):
        multimodal[i], unimodal[i] = _draw_sample(rng, grid, dominant[i], bool(noisy[i]))
    return LabelSteps(multimodal=multimodal, unimodal=unimodal)


def _draw_sample(
    rng: np.random.Generator, grid: np.ndarray, dominant: np.ndarray, noisy: bool
) -> tuple[int, np.ndarray]:
    """One sample's multimodal step and (3,) unimodal steps; redraws the multimodal step if infeasible."""
    dominant_modalities, other_modalities = np.flatnonzero(dominant), np.flatnonzero(~dominant)
    while True:
        k = int(rng.choice(grid))
        offsets = [0]
        if len(dominant_modalities) == 2:  # two dominant labels k - d and k + d, same polarity as k
            offsets += [
                d for d in range(1, _MAX_OFFSET_STEPS + 1) if d < abs(k) and grid[0] <= k - d <= k + d <= grid[-1]
            ]
        d = int(rng.choice(offsets))
        unimodal = np.empty(3, dtype=np.int64)
        unimodal[dominant_modalities] = k + (rng.permutation([-d, d]) if len(dominant_modalities) == 2 else 0)
        noise_modality = int(rng.choice(other_modalities)) if noisy else -1
        for m in other_modalities:
            same_polarity = np.sign(grid) == np.sign(k)
            candidates = grid[(np.abs(grid - k) > d) & (same_polarity != (m == noise_modality))]
            if candidates.size == 0:
                break
            unimodal[m] = rng.choice(candidates)
        else:
            return k, unimodal
