"""Which pair to compare next: ASAP active sampling, a random design and a full design. Django-free.

A design looks at the comparisons of one SRC so far, a count matrix C, int
(n, n), C[i, j] = times stimulus i was preferred to j, and returns the next
pair (i, j) to show, i first. ``DESIGNS``:

- ``asap-approx`` and ``asap``: the two versions of ASAP in Mikhailiuk,
  Wilmot, Perez-Ortiz, Yue and Mantiuk, "Active sampling for pairwise
  comparisons via approximate message passing and information gain
  maximization", ICPR 2020, in its sequential mode. The steps follow the
  paper (section III) and the authors' reference code (github.com/gfxdisp/asap,
  folders ``ASAP-approx`` and ``python/asap_cpu.py``), written anew here:

  1. Model: Thurstone Case V, P(i preferred to j | s) = Phi(s_i - s_j)
     (the unit of ``studies.paired``'s ``thurstone`` scale), independent
     Gaussian priors s_i ~ N(0, 0.5) (the reference code's prior variance).
  2. Posterior: independent Gaussian marginals N(mu_i, sigma_i^2) computed
     from all comparisons so far by expectation propagation (approximate
     message passing) on the TrueSkill factor graph (Herbrich, Minka and
     Graepel, NIPS 2006: moment matching of the truncated Gaussian of the
     performance difference), with parallel message updates as the
     reference code's ``ts_offline`` (``propagate``).
  3. Expected information gain of each candidate pair: EIG(i, j) =
     P(i>j) KL(q_i>j || q) + P(j>i) KL(q_j>i || q), with
     P(i>j) = Phi((mu_i - mu_j) / sqrt(1 + sigma_i^2 + sigma_j^2)) and q_i>j
     the posterior once "i preferred to j" is added. KL between diagonal
     Gaussians, in closed form. The two versions differ here only:
     - ``asap-approx`` (the paper's ASAP-approx): q_i>j is the *online*
       update, one TrueSkill moment-matching step on s_i and s_j alone
       (``information_gain_online``), so only two marginals change;
     - ``asap`` (the paper's full ASAP): q_i>j re-runs message passing on
       the whole graph plus the new comparison, warm-started from the
       current messages for ``FULL_SWEEPS`` sweeps, every hypothesis at once
       (``information_gain_full``), so a comparison also moves the stimuli
       linked to i and j through earlier comparisons.
  4. The pair with the largest EIG is chosen, ties at random. The paper's
     selective evaluation of the EIG and its minimum-spanning-tree batches
     serve hundreds of conditions; with n <= ~20 stimuli per SRC every pair
     is evaluated and one pair is chosen at a time.

  Measured (``compare_designs``, README): the online approximation keeps
  comparing neighbours on the scale, so the scale's overall extent rests
  on a chain of small differences; with closely spaced stimuli it ends with
  a larger error than random pairs. Full ASAP does not, and is the default.
- ``random``: a pair drawn uniformly among all n(n-1)/2.
- ``full``: every pair once in random order, then every pair again: the
  next pair is drawn uniformly among those compared least often.

The order of the two stimuli on screen is drawn at random by every design.

``compare_designs`` measures what active sampling saves: simulated observers
(``studies.simulation.simulate_pair_choice`` with sigma_obs = 1, so the true
scores are in the Thurstone unit) answer the pairs each design asks for,
and after each budget the comparisons are scaled by ``thurstone_map`` and
compared with the truth as an RMSE after removing the offset.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from studies.paired import information_matrix
from studies.simulation import Observer, simulate_pair_choice

DESIGNS = ("asap", "asap-approx", "random", "full")
PRIOR_VARIANCE = 0.5  # ASAP reference code's prior variance of each score (Thurstone unit, noise variance 1)
EP_TOLERANCE = 1e-6  # on the centred means, Thurstone unit
EP_MAX_SWEEPS = 500
FULL_SWEEPS = 5  # warm-started sweeps per hypothesis in full ASAP (the reference code: 2); 5 ranks pairs as
# converged message passing does (EIG correlation > 0.998 after 400 comparisons of 10 stimuli)


def _phi_ratio(x: np.ndarray) -> np.ndarray:
    """phi(x) / Phi(x), computed in logs so that it stays finite for x << 0."""
    return np.exp(-0.5 * x**2 - 0.5 * np.log(2 * np.pi) - special.log_ndtr(x))


def check_counts(comparisons) -> np.ndarray:
    """Return ``comparisons`` as int64 (n, n), n >= 2, >= 0 and 0 on the diagonal, or raise ``ValueError``."""
    counts = np.asarray(comparisons)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1] or counts.shape[0] < 2:
        raise ValueError(f"comparisons must be a square (n, n) count matrix with n >= 2, not shape {counts.shape}")
    if not np.all(np.isfinite(counts)) or np.any(counts < 0) or np.any(counts != np.round(counts)):
        raise ValueError("comparisons must hold whole numbers >= 0")
    if np.any(np.diag(counts) != 0):
        raise ValueError("comparisons must be 0 on the diagonal: a stimulus is not compared with itself")
    return counts.astype(np.int64)


def posterior(comparisons, *, prior_variance: float = PRIOR_VARIANCE) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian posterior of the Thurstone Case V scores by expectation propagation: (mean, variance), float (n,).

    ``comparisons``: int (n, n), C[i, j] = times i preferred to j. Step 2 of
    the module docstring; ``propagate`` does the work.
    """
    mean, variance, _ = propagate(check_counts(comparisons), prior_variance=prior_variance)
    return mean, variance


def _factor_messages(cavity_precision: np.ndarray, cavity_mean: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """New messages of comparison factors to their two scores, natural parameters (precision, precision x mean).

    Inputs (..., 2): the cavity marginals of the winner [..., 0] and the
    loser [..., 1]. The performance difference d = s_w - s_l + N(0, 1) has
    cavity N(m, v), m = m_w - m_l, v = 1 + v_w + v_l; given w won (d > 0)
    its moment-matched marginal has mean m + sqrt(v) r(t) and variance
    v (1 - r(t)(r(t) + t)), t = m / sqrt(v), r = phi/Phi; dividing by the
    cavity gives the factor's message on d, N(., 1/f); the message to each
    score is N(±(factor mean) + the other's cavity mean, 1/f + 1 + the
    other's cavity variance), written here in a form that stays finite as
    f -> 0 (a foregone comparison carries no information).
    """
    precision_w, precision_l = cavity_precision[..., 0], cavity_precision[..., 1]
    mean_w, mean_l = cavity_mean[..., 0], cavity_mean[..., 1]
    variance = 1.0 + 1.0 / precision_w + 1.0 / precision_l
    difference = mean_w - mean_l
    sd = np.sqrt(variance)
    t = difference / sd
    ratio = _phi_ratio(t)
    matched_precision = 1.0 / (variance * (1.0 - ratio * (ratio + t)))
    factor_precision = np.clip(matched_precision - 1.0 / variance, 0.0, None)
    factor_natural_mean = (difference + sd * ratio) * matched_precision - difference / variance
    tau = np.empty_like(cavity_precision)
    nu = np.empty_like(cavity_precision)
    denominator = factor_precision * (1.0 + 1.0 / precision_l) + 1.0  # message to the winner
    tau[..., 0] = factor_precision / denominator
    nu[..., 0] = (factor_natural_mean + factor_precision * mean_l) / denominator
    denominator = factor_precision * (1.0 + 1.0 / precision_w) + 1.0  # message to the loser
    tau[..., 1] = factor_precision / denominator
    nu[..., 1] = (factor_precision * mean_w - factor_natural_mean) / denominator
    return tau, nu


def propagate(counts: np.ndarray, *, prior_variance: float = PRIOR_VARIANCE, messages: np.ndarray | None = None):
    """Run expectation propagation on checked ``counts``; return (mean (n,), variance (n,), messages).

    Each distinct ordered pair (winner w, loser l) with C[w, l] = k is one
    factor counted k times (exact for parallel updates, where the k copies
    keep equal messages). Per sweep, every factor's cavity (the marginals
    without one copy of its message) and its new messages
    (``_factor_messages``), all in parallel, damped by half in natural
    parameters (undamped parallel updates diverge once a pair was compared
    hundreds of times). Stops when the centred means move less than
    ``EP_TOLERANCE`` (the common offset converges slowly and no choice
    depends on it) or after ``EP_MAX_SWEEPS``.

    ``messages``: float (2, n, n, 2), the natural parameters (precision,
    precision x mean) of the factor-to-score messages [., w, l, winner's or
    loser's], as returned by an earlier call: a warm start, which only saves
    sweeps (the fixed point does not depend on it); None starts from zero.
    """
    n = counts.shape[0]
    state = np.zeros((2, n, n, 2)) if messages is None else messages.copy()
    winner, loser = np.nonzero(counts)
    multiplicity = counts[winner, loser].astype(float)[:, None]
    players = np.stack([winner, loser], axis=1)  # (m, 2)
    tau, nu = state[0][winner, loser], state[1][winner, loser]  # (m, 2) each
    mean = np.zeros(n)
    for sweep in range(EP_MAX_SWEEPS + 1):
        precision = 1.0 / prior_variance + np.bincount(players.ravel(), (multiplicity * tau).ravel(), minlength=n)
        new_mean = np.bincount(players.ravel(), (multiplicity * nu).ravel(), minlength=n) / precision
        change = (new_mean - new_mean.mean()) - (mean - mean.mean())
        converged = sweep > 0 and np.max(np.abs(change)) < EP_TOLERANCE
        mean = new_mean
        if converged or len(players) == 0 or sweep == EP_MAX_SWEEPS:
            break
        cavity_precision = precision[players] - tau
        cavity_mean = (precision[players] * mean[players] - nu) / cavity_precision
        new_tau, new_nu = _factor_messages(cavity_precision, cavity_mean)
        tau, nu = 0.5 * (tau + new_tau), 0.5 * (nu + new_nu)
    state[0][winner, loser], state[1][winner, loser] = tau, nu
    return mean, 1.0 / precision, state


def information_gain_online(mean: np.ndarray, variance: np.ndarray) -> np.ndarray:
    """ASAP-approx EIG (nats) of comparing i with j, float (n, n), symmetric, 0 on the diagonal.

    ``mean``, ``variance``: the posterior marginals (n,). The hypothetical
    posterior after "i preferred to j" is the online TrueSkill update of
    s_i and s_j: with c^2 = 1 + var_i + var_j, t = (mu_i - mu_j) / c,
    r = phi(t)/Phi(t), lambda = r (r + t): mu_i += var_i r / c,
    mu_j -= var_j r / c, var_i *= 1 - var_i lambda / c^2, likewise var_j.
    KL(N(m', v') || N(m, v)) = (log(v / v') - 1 + v'/v + (m' - m)^2 / v) / 2.
    """
    mean = np.asarray(mean, dtype=float)
    variance = np.asarray(variance, dtype=float)
    spread = np.sqrt(1.0 + variance[:, None] + variance[None, :])
    t = (mean[:, None] - mean[None, :]) / spread
    ratio = _phi_ratio(t)
    shrink = ratio * (ratio + t)
    var_i, var_j = variance[:, None], variance[None, :]
    gain_if_i_wins = (
        _kl_gaussian(var_i * ratio / spread, var_i * (1.0 - var_i * shrink / spread**2), var_i)
        + _kl_gaussian(var_j * ratio / spread, var_j * (1.0 - var_j * shrink / spread**2), var_j)
    )  # [i, j]: information if i is preferred to j
    return _expected(gain_if_i_wins, mean, variance)


def information_gain_full(
    counts: np.ndarray, *, prior_variance: float = PRIOR_VARIANCE, messages: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Full-ASAP EIG (nats), float (n, n), symmetric, 0 on the diagonal; and the current messages.

    ``counts``: checked counts; ``messages``: a warm start for ``propagate``.
    For each of the n(n-1) hypotheses "w preferred to l", message passing
    runs on every factor so far plus the new comparison (a factor of its
    own, starting with no message), from the current messages, for
    ``FULL_SWEEPS`` undamped parallel sweeps, all hypotheses in one array
    (H, m + 1, 2); the gain of a hypothesis is the KL divergence summed over
    all n marginals.
    """
    mean, variance, state = propagate(counts, prior_variance=prior_variance, messages=messages)
    n = counts.shape[0]
    winner, loser = np.nonzero(counts)
    new_winner, new_loser = np.nonzero(~np.eye(n, dtype=bool))  # the hypotheses
    hypotheses = len(new_winner)
    players = np.stack([winner, loser], axis=1).ravel()  # (2m,), the same for every hypothesis
    incidence = np.zeros((len(players), n))
    incidence[np.arange(len(players)), players] = 1.0
    multiplicity = np.repeat(counts[winner, loser].astype(float), 2)  # (2m,)
    tau = np.broadcast_to(state[0][winner, loser].ravel(), (hypotheses, len(players))).copy()
    nu = np.broadcast_to(state[1][winner, loser].ravel(), (hypotheses, len(players))).copy()
    new_tau, new_nu = np.zeros((hypotheses, 2)), np.zeros((hypotheses, 2))
    rows = np.arange(hypotheses)
    for sweep in range(FULL_SWEEPS + 1):
        precision = 1.0 / prior_variance + (multiplicity * tau) @ incidence
        natural = (multiplicity * nu) @ incidence
        for side, column in enumerate((new_winner, new_loser)):
            precision[rows, column] += new_tau[:, side]
            natural[rows, column] += new_nu[:, side]
        means = natural / precision
        if sweep == FULL_SWEEPS:
            break
        own_precision = np.concatenate([precision[:, players], precision[rows[:, None], np.stack(
            [new_winner, new_loser], axis=1)]], axis=1).reshape(hypotheses, -1, 2)
        own_mean = np.concatenate([means[:, players], means[rows[:, None], np.stack(
            [new_winner, new_loser], axis=1)]], axis=1).reshape(hypotheses, -1, 2)
        all_tau = np.concatenate([tau, new_tau], axis=1).reshape(hypotheses, -1, 2)
        all_nu = np.concatenate([nu, new_nu], axis=1).reshape(hypotheses, -1, 2)
        cavity_precision = own_precision - all_tau
        cavity_mean = (own_precision * own_mean - all_nu) / cavity_precision
        updated_tau, updated_nu = _factor_messages(cavity_precision, cavity_mean)
        tau, new_tau = updated_tau[:, :-1].reshape(hypotheses, -1), updated_tau[:, -1]
        nu, new_nu = updated_nu[:, :-1].reshape(hypotheses, -1), updated_nu[:, -1]
    gain = _kl_gaussian(means - mean, 1.0 / precision, variance).sum(axis=1)
    gain_if_i_wins = np.zeros((n, n))
    gain_if_i_wins[new_winner, new_loser] = gain
    return _expected(gain_if_i_wins, mean, variance), state


def _expected(gain_if_i_wins: np.ndarray, mean: np.ndarray, variance: np.ndarray) -> np.ndarray:
    """EIG[i, j] = P(i>j) gain[i, j] + P(j>i) gain[j, i], P from the posterior predictive; 0 on the diagonal."""
    spread = np.sqrt(1.0 + variance[:, None] + variance[None, :])
    p_i_wins = special.ndtr((mean[:, None] - mean[None, :]) / spread)
    gain = p_i_wins * gain_if_i_wins + p_i_wins.T * gain_if_i_wins.T
    np.fill_diagonal(gain, 0.0)
    return gain


def _kl_gaussian(shift: np.ndarray, new_variance: np.ndarray, old_variance: np.ndarray) -> np.ndarray:
    """KL(N(m + shift, new_variance) || N(m, old_variance)), elementwise."""
    ratio = new_variance / old_variance
    return 0.5 * (-np.log(ratio) - 1.0 + ratio + shift**2 / old_variance)


class PairSampler:
    """Chooses the next pair of one SRC's stimuli by ``design`` (one of ``DESIGNS``); see the module docstring.

    An ASAP sampler keeps the messages of its last posterior to start the
    next one from them (fewer sweeps, same fixed point): use one sampler per
    SRC and session, or a fresh one per call (slower, same choices up to
    ``EP_TOLERANCE``).
    """

    def __init__(self, design: str = "asap", *, prior_variance: float = PRIOR_VARIANCE):
        if design not in DESIGNS:
            raise ValueError(f"unknown design {design!r}: choose one of {', '.join(DESIGNS)}")
        if not prior_variance > 0:
            raise ValueError(f"prior_variance must be > 0, not {prior_variance}")
        self.design = design
        self.prior_variance = float(prior_variance)
        self._messages: np.ndarray | None = None

    def __repr__(self) -> str:
        return f"PairSampler({self.design!r}, prior_variance={self.prior_variance:g})"

    def information_gain(self, comparisons) -> np.ndarray:
        """The EIG matrix (n, n) this sampler's ASAP design maximises (``ValueError`` for other designs)."""
        counts = check_counts(comparisons)
        warm = self._messages if self._messages is not None and self._messages.shape[1] == counts.shape[0] else None
        if self.design == "asap":
            gain, self._messages = information_gain_full(counts, prior_variance=self.prior_variance, messages=warm)
        elif self.design == "asap-approx":
            mean, variance, self._messages = propagate(counts, prior_variance=self.prior_variance, messages=warm)
            gain = information_gain_online(mean, variance)
        else:
            raise ValueError(f"design {self.design!r} does not use the information gain")
        return gain

    def next_pair(self, comparisons, rng: np.random.Generator) -> tuple[int, int]:
        """Return (i, j), i != j, the indices of the stimuli to show, i first.

        ``comparisons``: int (n, n), C[i, j] = times i was preferred to j
        (n >= 2). For n = 12 a full ``asap`` choice takes about 10 to 30 ms
        on one core, ``asap-approx`` a few ms.
        """
        counts = check_counts(comparisons)
        n = counts.shape[0]
        upper = np.triu(np.ones((n, n), dtype=bool), 1)
        if self.design in ("asap", "asap-approx"):
            candidates = _best(self.information_gain(counts), upper)
        elif self.design == "full":
            candidates = _best(-(counts + counts.T).astype(float), upper)
        else:
            candidates = np.argwhere(upper)
        i, j = candidates[rng.integers(len(candidates))]
        return (int(i), int(j)) if rng.random() < 0.5 else (int(j), int(i))


def _best(score: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """Indices (k, 2) of the allowed cells whose score is the maximum (within a relative 1e-12)."""
    values = np.where(allowed, score, -np.inf)
    top = values.max()
    return np.argwhere(allowed & (values >= top - 1e-12 * max(1.0, abs(top))))


def thurstone_map(comparisons, *, prior_sd: float = 2.0, tolerance: float = 1e-10) -> np.ndarray:
    """Thurstone Case V scores (n,), maximum a posteriori, by Newton's method.

    Maximises sum_ij C[i, j] log Phi(s_i - s_j) - sum_i s_i^2 / (2 prior_sd^2):
    the likelihood of ``studies.paired``'s ``thurstone`` model (sureal's), plus
    a Gaussian prior that keeps the scale finite when a stimulus never lost
    or never won (early in a design). The objective is concave; the scale is
    in the Thurstone unit; a large ``prior_sd`` approaches the
    maximum-likelihood scale (up to its offset).
    """
    counts = check_counts(comparisons).astype(float)
    if not prior_sd > 0:
        raise ValueError(f"prior_sd must be > 0, not {prior_sd}")
    n = counts.shape[0]
    scores = np.zeros(n)

    def objective(s):
        d = s[:, None] - s[None, :]
        return float(np.sum(counts * special.log_ndtr(d)) - np.sum(s**2) / (2 * prior_sd**2))

    current = objective(scores)
    for _ in range(100):
        d = scores[:, None] - scores[None, :]
        gradient = (counts * _phi_ratio(d)).sum(axis=1) - (counts.T * _phi_ratio(-d)).sum(axis=1)
        gradient -= scores / prior_sd**2
        hessian = -information_matrix(scores, counts, model="thurstone") - np.eye(n) / prior_sd**2
        step = np.linalg.solve(hessian, -gradient)
        size = 1.0
        while size > 1e-8:
            candidate = scores + size * step
            value = objective(candidate)
            if value >= current - 1e-12:
                break
            size /= 2
        else:
            break  # no step improves the objective: at the maximum within rounding
        scores, current = candidate, value
        if np.max(np.abs(size * step)) < tolerance:
            break
    return scores


@dataclass(frozen=True)
class DesignComparison:
    """What ``compare_designs`` returns.

    Per design: ``budgets[design]`` int (k,), comparisons made so far;
    ``rmse[design]`` float (k,), the RMSE (Thurstone unit) of the offset-free
    ``thurstone_map`` scores against the offset-free truth, mean over
    repeats; ``rmse_sem[design]`` its standard error over repeats. The
    baseline runs ``baseline_factor`` times longer than the active design, so
    that the budget it needs to match the active design can be found.
    """

    active: str
    baseline: str
    true_scores: np.ndarray
    budgets: dict[str, np.ndarray]
    rmse: dict[str, np.ndarray]
    rmse_sem: dict[str, np.ndarray]
    repeats: int
    prior_sd: float

    def budget_for(self, design: str, error: float) -> float | None:
        """Comparisons ``design`` needs, on average, to reach ``error``: linear between budgets; None if never."""
        budgets, curve = self.budgets[design], self.rmse[design]
        below = np.nonzero(curve <= error)[0]
        if len(below) == 0:
            return None
        k = below[0]
        if k == 0:
            return float(budgets[0])
        x0, x1, y0, y1 = budgets[k - 1], budgets[k], curve[k - 1], curve[k]
        return float(x0 + (x1 - x0) * (y0 - error) / (y0 - y1))

    def savings(self) -> list[tuple[int, float, float | None]]:
        """Per active budget M: (M, active RMSE at M, comparisons the baseline needs for it, or None)."""
        return [(int(budget), float(error), self.budget_for(self.baseline, error))
                for budget, error in zip(self.budgets[self.active], self.rmse[self.active], strict=True)]


def compare_designs(
    n_stimuli: int = 10,
    true_scores=None,
    n_trials: int = 300,
    repeats: int = 20,
    seed: int = 0,
    *,
    active: str = "asap",
    baseline: str = "random",
    baseline_factor: int = 4,
    n_steps: int = 10,
    prior_sd: float = 2.0,
) -> DesignComparison:
    """Simulate the ``active`` and ``baseline`` designs ``repeats`` times and measure the scale error.

    ``true_scores``: float (n_stimuli,) in the Thurstone unit (default evenly
    spaced over [0, 3]: neighbours 0.33 apart, the extremes 99.9 % apart).
    One observer with sigma_obs = 1 (``simulate_pair_choice``, inconsistency
    1/sqrt(2)) answers every pair. The error is measured every
    ``n_trials / n_steps`` comparisons, up to ``n_trials`` for the active
    design and ``baseline_factor * n_trials`` for the baseline. Repeat r of
    each design draws from the seed ``[seed, r]``.
    """
    truth = (np.linspace(0.0, 3.0, n_stimuli) if true_scores is None
             else np.asarray(true_scores, dtype=float))
    if n_stimuli < 2 or truth.shape != (n_stimuli,) or not np.all(np.isfinite(truth)):
        raise ValueError(f"true_scores must be {n_stimuli} finite numbers (n_stimuli >= 2)")
    if n_trials < 1 or repeats < 1 or n_steps < 1 or baseline_factor < 1:
        raise ValueError("n_trials, repeats, n_steps and baseline_factor must be >= 1")
    step = max(1, round(n_trials / n_steps))
    horizons = {active: n_trials, baseline: baseline_factor * n_trials}
    budgets = {design: np.unique(np.append(np.arange(step, horizon + 1, step), horizon))
               for design, horizon in horizons.items()}
    errors = {design: np.array([_simulate(PairSampler(design), truth, budgets[design], prior_sd,
                                          np.random.default_rng([seed, repeat]))
                                for repeat in range(repeats)])
              for design in horizons}
    return DesignComparison(
        active=active,
        baseline=baseline,
        true_scores=truth,
        budgets=budgets,
        rmse={design: values.mean(axis=0) for design, values in errors.items()},
        rmse_sem={design: (values.std(axis=0, ddof=1) / np.sqrt(repeats) if repeats > 1
                           else np.full(values.shape[1], np.nan)) for design, values in errors.items()},
        repeats=repeats,
        prior_sd=prior_sd,
    )


def _simulate(sampler: PairSampler, truth: np.ndarray, budgets: np.ndarray, prior_sd: float,
              rng: np.random.Generator) -> np.ndarray:
    """One simulated session of ``sampler``: the offset-free RMSE of ``thurstone_map`` at each budget, (k,)."""
    observer = Observer(bias=0.0, inconsistency=1.0 / np.sqrt(2.0), careless=False)
    centred = truth - truth.mean()
    counts = np.zeros((len(truth), len(truth)), dtype=np.int64)
    errors = []
    for trial in range(1, int(budgets[-1]) + 1):
        i, j = sampler.next_pair(counts, rng)
        if simulate_pair_choice(observer, truth[i], truth[j], rng):
            counts[i, j] += 1
        else:
            counts[j, i] += 1
        if trial in budgets:
            scores = thurstone_map(counts, prior_sd=prior_sd)
            errors.append(np.sqrt(np.mean((scores - scores.mean() - centred) ** 2)))
    return np.array(errors)


def format_comparison(result: DesignComparison) -> str:
    """The table ``benchmark_active_sampling`` prints: budget, RMSE of both designs, what the baseline needs."""
    active, baseline = result.active, result.baseline
    horizon = int(result.budgets[baseline][-1])
    baseline_rmse = dict(zip(result.budgets[baseline].tolist(), result.rmse[baseline], strict=True))
    baseline_sem = dict(zip(result.budgets[baseline].tolist(), result.rmse_sem[baseline], strict=True))
    lines = [
        f"{len(result.true_scores)} stimuli, true scores {np.round(result.true_scores, 2).tolist()} "
        f"(Thurstone unit), {result.repeats} repeats, scored by Thurstone MAP (prior sd {result.prior_sd:g}); "
        "RMSE: mean ± standard error over repeats",
        f"{'comparisons':>11}  {'RMSE ' + active:>15}  {'RMSE ' + baseline:>15}  "
        f"{baseline + ' needs':>13}  {'saving':>7}",
    ]
    for (budget, error, needed), sem in zip(result.savings(), result.rmse_sem[active], strict=True):
        first = int(result.budgets[baseline][0])
        if needed is None:
            need, saving = f"> {horizon}", f"> {100 * (1 - budget / horizon):.0f} %"
        elif needed <= first:
            need, saving = f"<= {first}", f"<= {100 * (1 - budget / first):.0f} %"
        else:
            need, saving = f"{needed:.0f}", f"{100 * (1 - budget / needed):.0f} %"
        lines.append(f"{budget:>11}  {error:>7.3f} ± {sem:.3f}  {baseline_rmse[budget]:>7.3f} ± "
                     f"{baseline_sem[budget]:.3f}  {need:>13}  {saving:>7}")
    lines.append(f"'{baseline} needs': comparisons the {baseline} design needs, on average, to reach the RMSE "
                 f"{active} reaches at that budget (linear between its budgets, run up to {horizon}); "
                 "saving = 1 - budget / that.")
    return "\n".join(lines)
