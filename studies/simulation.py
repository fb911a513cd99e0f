"""Simulated observers, so the whole pipeline can be shown without people. Django-free.

The observer model is the one ITU-T P.910 (10/2023) Annex E and P.913 fit
(Li & Bampis, "Recover subjective quality scores from noisy measurements",
2017): a vote is U = psi + Delta_s + v_s * X, with psi the stimulus's latent
quality, Delta_s the subject's bias, v_s the subject's inconsistency and X a
standard normal draw, rounded to the 5-point ACR scale and clipped to 1..5.
A careless observer votes uniformly at random (and fails gold trials).

The comparison methods reuse the same observer, perceiving each stimulus as
its latent quality plus v_s * X with an independent standard normal X per
stimulus (vote units, the ACR 1..5 scale):

- DCR (``simulate_dcr_vote``, ITU-T P.910 (10/2023) DCR, 5 Imperceptible ..
  1 Very annoying): U = 5 - (q_ref - q) + Delta_s + sqrt(2) * v_s * X,
  rounded and clipped to 1..5. The impairment is the perceived drop below
  the reference shown with the stimulus, one grade per ACR grade, so DCR
  votes have the scale and the noise of ACR-HR differential scores
  (DV = V - V_ref + 5); a stimulus as good as its reference is centred on
  5 + Delta_s.
- CCR (``simulate_ccr_vote``, ITU-T P.910 (10/2023) CCR and P.800 Annex E,
  -3 Much worse .. +3 Much better, b judged against a): U = (q_b - q_a) +
  sqrt(2) * v_s * X, rounded and clipped to -3..+3. One step per ACR grade;
  no bias term, since a bias on both stimuli cancels in the difference; the
  noise of two perceptions adds, hence sqrt(2).
- PC (``simulate_pair_choice``, forced choice): the observer prefers a when
  q_a + v_s * X_a > q_b + v_s * X_b, i.e. with probability
  Phi((q_a - q_b) / sigma_obs), sigma_obs = sqrt(2) * v_s: Thurstone's
  Case V (equal, uncorrelated discriminal dispersions v_s). Thurstone
  scaling of such choices estimates q / sigma_obs.

A careless observer answers every method uniformly at random.

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
CCR_SCALE = (-3, 3)


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


def simulate_dcr_vote(observer: Observer, reference_quality: float, quality: float, rng: np.random.Generator) -> int:
    """One DCR vote (1..5, 5 Imperceptible .. 1 Very annoying) on a stimulus shown after its reference.

    ``reference_quality`` and ``quality``: latent qualities in ACR vote units
    (see the module docstring for the model).
    """
    if observer.careless:
        return int(rng.integers(SCALE[0], SCALE[1] + 1))
    impairment = reference_quality - quality
    vote = SCALE[1] - impairment + observer.bias + np.sqrt(2.0) * observer.inconsistency * rng.standard_normal()
    return int(np.clip(np.rint(vote), *SCALE))


def simulate_ccr_vote(observer: Observer, quality_a: float, quality_b: float, rng: np.random.Generator) -> int:
    """One CCR vote (-3..+3): the quality of the second stimulus ``b`` compared with the first ``a``.

    +3 Much better, 0 About the same, -3 Much worse (ITU-T P.910 (10/2023) CCR,
    P.800 Annex E). Latent qualities in ACR vote units; model in the module docstring.
    """
    if observer.careless:
        return int(rng.integers(CCR_SCALE[0], CCR_SCALE[1] + 1))
    vote = quality_b - quality_a + np.sqrt(2.0) * observer.inconsistency * rng.standard_normal()
    return int(np.clip(np.rint(vote), *CCR_SCALE))


def simulate_pair_choice(observer: Observer, quality_a: float, quality_b: float, rng: np.random.Generator) -> bool:
    """One forced choice: True when ``observer`` prefers a, with P = Phi((q_a - q_b) / (sqrt(2) * inconsistency)).

    Thurstone Case V (module docstring); a careless observer picks either with P = 0.5.
    """
    if observer.careless:
        return bool(rng.random() < 0.5)
    sigma_obs = np.sqrt(2.0) * observer.inconsistency
    return bool(sigma_obs * rng.standard_normal() < quality_a - quality_b)
