"""Simulated observers, so the whole pipeline can be shown without people. Django-free.

The observer model is the one ITU-T P.910 (10/2023) Annex E and P.913 fit
(Li & Bampis, "Recover subjective quality scores from noisy measurements",
2017): a vote is U = psi + Delta_s + v_s * X, with psi the stimulus's latent
quality, Delta_s the subject's bias, v_s the subject's inconsistency and X a
standard normal draw, rounded to the 5-point ACR scale and clipped to 1..5.
A careless observer votes uniformly at random (and fails gold trials).

The latent quality has to come from somewhere: here, from one objective
metric, mapped by rank onto the quality range. A study rated by simulated
observers therefore favours that metric by construction; its correlation
dashboard demonstrates the pipeline and says nothing about which metric
predicts people.
"""
from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata

SCALE = (1, 5)


@dataclass(frozen=True)
class ObserverModel:
    """Parameters of the simulated panel (vote units)."""

    bias_sd: float = 0.3
    inconsistency: tuple[float, float] = (0.4, 0.8)
    quality_range: tuple[float, float] = (1.3, 4.7)
    reference_quality: float = 4.6


@dataclass(frozen=True)
class Observer:
    bias: float
    inconsistency: float
    careless: bool


def latent_quality(values: np.ndarray, *, higher_is_better: bool, model: ObserverModel) -> np.ndarray:
    """Map metric values (n,) by rank onto ``model.quality_range``; float64 (n,).

    Ties share a rank. Raises ``ValueError`` on an empty or non-finite input.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0 or not np.all(np.isfinite(values)):
        raise ValueError("latent quality needs at least one value, all finite")
    ranks = rankdata(values if higher_is_better else -values)
    low, high = model.quality_range
    return low + (high - low) * (ranks - 0.5) / len(values)


def draw_observer(model: ObserverModel, rng: np.random.Generator, *, careless: bool = False) -> Observer:
    """One observer: bias ~ N(0, bias_sd^2), inconsistency ~ U(inconsistency)."""
    return Observer(
        bias=float(rng.normal(0.0, model.bias_sd)),
        inconsistency=float(rng.uniform(*model.inconsistency)),
        careless=careless,
    )


def simulate_vote(observer: Observer, quality: float, rng: np.random.Generator) -> int:
    """One ACR vote (1..5) of ``observer`` on a stimulus of latent ``quality``."""
    if observer.careless:
        return int(rng.integers(SCALE[0], SCALE[1] + 1))
    vote = quality + observer.bias + observer.inconsistency * rng.standard_normal()
    return int(np.clip(np.rint(vote), *SCALE))
