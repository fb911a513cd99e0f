"""Subjective analysis of ACR votes: MOS, DMOS and the ITU subject models.

Django-free: numpy, pandas, scipy and Netflix sureal only, so that services,
management commands and notebooks share one implementation.

Votes come in long format, one row per vote (see ``validate_votes``), on the
five-grade ACR scale 1..5 of ITU-T P.910. ``analyse`` turns them into one score
per stimulus with a 95 % confidence interval, using one of ``MODELS``:

- ``mos``: the plain mean opinion score, computed here.
- ``bt500``, ``p913``, ``p910``, ``mle``: the subject models of the sureal
  package (its reference implementation of ITU-R BT.500, ITU-T P.913 and
  ITU-T P.910 Annex E), run on a dataset built in memory from the votes.
  sureal is imported when first used: importing it takes about two seconds,
  loads matplotlib and sets the multiprocessing start method to ``fork``.

Every result carries ``model_version`` (sureal's TYPE and VERSION, or ours for
``mos``), so a stored score can be traced to the code that made it.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib
import io
import types
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

ACR_SCALE = (1.0, 5.0)
CI_METHODS = ("t", "normal")
NORMAL_Q975 = 1.95996  # the two-sided 95 % normal quantile, as BT.500 and sureal use it
VOTE_COLUMNS = ("subject", "stimulus", "reference", "vote", "repetition", "is_reference")
REQUIRED_COLUMNS = VOTE_COLUMNS[:4]
SCORE_COLUMNS = (
    "stimulus", "reference", "is_reference", "n_votes", "score", "score_std", "ci95_low", "ci95_high",
)
SUBJECT_COLUMNS = (
    "subject", "rejected", "reason", "bias", "inconsistency",
    "bias_std", "bias_ci95_low", "bias_ci95_high",
    "inconsistency_std", "inconsistency_ci95_low", "inconsistency_ci95_high",
    "outlier_rate", "outlier_skew",
)
CONTENT_COLUMNS = ("reference", "ambiguity", "ambiguity_std", "ambiguity_ci95_low", "ambiguity_ci95_high")
DMOS_COLUMNS = ("stimulus", "reference", "n_votes", "dmos", "dmos_std", "ci95_low", "ci95_high")


class VotesError(ValueError):
    """Votes that cannot be analysed; the message says what was wrong."""


@dataclass(frozen=True)
class SubjectModel:
    """One entry of the model registry.

    ``sureal_class`` is the dotted path of the sureal class that computes the
    model, imported when used; ``None`` means computed in this module.
    ``screening`` names the rule behind a rejection, empty if the model rejects
    no subject.
    """

    name: str
    label: str
    source: str
    gives: str
    sureal_class: str | None = None
    screening: str = ""

    def load(self) -> type:
        """Import and return the sureal class."""
        module, _, attribute = self.sureal_class.rpartition(".")
        return getattr(importlib.import_module(module), attribute)

    @property
    def version(self) -> str:
        """Return a traceable version string, e.g. ``sureal-0.9.0/BT500_V0.1``."""
        if self.sureal_class is None:
            return f"faceqa-{self.name}/1"
        model_class = self.load()
        sureal = importlib.import_module("sureal")
        return f"sureal-{sureal.__version__}/{model_class.TYPE}_V{model_class.VERSION}"


PCC_R1_MIN, PCC_R2_MIN = 0.75, 0.8  # P.913 subject screening thresholds on r1 and r2
_BT500_SCREENING = "ITU-R BT.500 Annex 1 §A1-2.3.1 (β2 kurtosis screening)"

REGISTRY: dict[str, SubjectModel] = {
    model.name: model
    for model in (
        SubjectModel(
            name="mos",
            label="Plain MOS",
            source="mean of all votes; CI from the standard error "
                   "(see ITU-R BT.500 Annex 2 §A2-2.1 and the data-analysis clause of ITU-T P.910 (2023))",
            gives="score per stimulus",
        ),
        SubjectModel(
            name="bt500",
            label="BT.500 subject screening, then MOS",
            source=f"{_BT500_SCREENING}, as cited by sureal from BT.500-14; see the same clause of BT.500-15",
            gives="score per stimulus; rejected subjects",
            sureal_class="sureal.BT500Model",
            screening=_BT500_SCREENING,
        ),
        SubjectModel(
            name="p913",
            label="P.913 subject-bias removal and screening, then MOS",
            source="ITU-T P.913 (06/2021) §12.4 bias removal (biases from all subjects), then "
                   f"{_BT500_SCREENING} on the bias-removed votes, as sureal implements it "
                   "(not the correlation-based screening of P.913, which sureal does not implement)",
            gives="score per stimulus; subject bias; rejected subjects",
            sureal_class="sureal.P913124Model",
            screening=f"{_BT500_SCREENING} on P.913 §12.4 bias-removed votes",
        ),
        SubjectModel(
            name="p913pcc",
            label="P.913 correlation-based subject screening, then MOS",
            source="ITU-T P.913 (06/2021), the subject-screening clause (see): Pearson correlation of each "
                   "subject's votes with the MOS per PVS (r1) and per HRC (r2), thresholds from VQEG practice",
            gives="score per stimulus; rejected subjects",
            screening=f"P.913 correlation screening (r1 < {PCC_R1_MIN} and r2 < {PCC_R2_MIN})",
        ),
        SubjectModel(
            name="p910",
            label="P.910 Annex E maximum-likelihood subject model",
            source="ITU-T P.910 (11/2021) Annex E, also ITU-T P.913 (06/2021) §12.6, as cited by sureal",
            gives="score per stimulus; subject bias and inconsistency",
            sureal_class="sureal.P910AnnexEModel",
        ),
        SubjectModel(
            name="mle",
            label="Full maximum-likelihood model with content ambiguity",
            source="Li and Bampis, 'Recover subjective quality scores from noisy measurements', "
                   "DCC 2017: the ITU-T P.910 Annex E model plus a content-ambiguity term",
            gives="score per stimulus; subject bias and inconsistency; content ambiguity",
            sureal_class="sureal.subjective_model.MaximumLikelihoodEstimationModel",
        ),
    )
}
MODELS = tuple(REGISTRY)


@dataclass(frozen=True)
class AnalysisResult:
    """What ``analyse`` returns.

    - ``scores``: one row per stimulus, columns ``SCORE_COLUMNS``; scores on the
      ACR scale, ``score_std`` the standard error of the score, ``n_votes`` the
      votes (repetitions included) of the subjects kept.
    - ``subjects``: one row per subject, sorted by name, columns
      ``SUBJECT_COLUMNS``; NaN where the model gives no such value.
    - ``contents``: for ``mle`` one row per reference, columns
      ``CONTENT_COLUMNS``; otherwise ``None``.
    """

    model: str
    model_version: str
    ci: str
    scores: pd.DataFrame
    subjects: pd.DataFrame
    contents: pd.DataFrame | None


@dataclass(frozen=True)
class _Fit:
    """A model's raw output: scores (stimulus, n_votes, score, score_std), subjects, contents."""

    scores: pd.DataFrame
    subjects: pd.DataFrame
    contents: pd.DataFrame | None = None


def read_votes_csv(path) -> pd.DataFrame:
    """Read a long-format votes CSV and return it validated (see ``validate_votes``).

    Raises ``VotesError`` for content that is not a votes table, ``OSError``
    when the file cannot be read.
    """
    try:
        frame = pd.read_csv(path, dtype={"subject": str, "stimulus": str, "reference": str})
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise VotesError(f"not a readable CSV table: {exc}") from exc
    return validate_votes(frame)


def validate_votes(votes: pd.DataFrame) -> pd.DataFrame:
    """Return a normalised copy of long-format votes, or raise ``VotesError``.

    Columns: ``subject``, ``stimulus``, ``reference`` (str; the SRC of the
    stimulus), ``vote`` (float on the ACR scale 1..5), ``repetition`` (int >= 0,
    default 0) and ``is_reference`` (bool, default False: the stimulus is the
    hidden reference of its SRC). They come first; other columns are kept after.
    A stimulus has one reference and one ``is_reference``; an SRC has at most
    one hidden-reference stimulus; (subject, stimulus, repetition) is unique.
    """
    if not isinstance(votes, pd.DataFrame):
        raise VotesError(f"votes must be a pandas DataFrame, not {type(votes).__name__}")
    missing = [column for column in REQUIRED_COLUMNS if column not in votes.columns]
    if missing:
        raise VotesError(f"missing column(s) {', '.join(missing)}; found {', '.join(map(str, votes.columns))}")
    if votes.empty:
        raise VotesError("no votes: the table is empty")
    frame = votes.reset_index(drop=True).assign(
        repetition=votes["repetition"].to_numpy() if "repetition" in votes else 0,
        is_reference=votes["is_reference"].to_numpy() if "is_reference" in votes else 0,
    )
    _normalise_names(frame)
    _normalise_numbers(frame)
    _check_consistency(frame)
    others = [column for column in frame.columns if column not in VOTE_COLUMNS]
    return frame[list(VOTE_COLUMNS) + others]


def _normalise_names(frame: pd.DataFrame) -> None:
    """Make subject, stimulus and reference non-empty strings, in place."""
    for column in ("subject", "stimulus", "reference"):
        empty = frame[column].isna() | (frame[column].astype(str).str.strip() == "")
        if empty.any():
            first = _row_name(int(frame.index[empty][0]))
            raise VotesError(f"empty {column} in {int(empty.sum())} row(s), e.g. {first}")
        frame[column] = frame[column].astype(str).str.strip()


def votes_on_scale(frame: pd.DataFrame, *, scale: tuple[float, float], scale_name: str,
                   describe: Callable[[pd.DataFrame], str], error: type[VotesError] = VotesError) -> pd.Series:
    """``frame["vote"]`` as float, or ``error`` counting the rows that are not a number or lie outside
    ``scale`` (low, high) and naming the first through ``describe(rows)``."""
    vote = pd.to_numeric(frame["vote"], errors="coerce")
    if vote.isna().any():
        raise error(f"vote is not a number in {int(vote.isna().sum())} row(s), e.g. {describe(frame[vote.isna()])}")
    low, high = scale
    outside = (vote < low) | (vote > high)
    if outside.any():
        raise error(f"vote outside the {scale_name} scale {low:g}..{high:g} in {int(outside.sum())} row(s), "
                    f"e.g. {describe(frame[outside])}")
    return vote.astype(float)


def _normalise_numbers(frame: pd.DataFrame) -> None:
    """Make vote a float on the ACR scale, repetition an int >= 0, is_reference a bool, in place."""
    frame["vote"] = votes_on_scale(frame, scale=ACR_SCALE, scale_name="ACR",
                                   describe=lambda rows: _example(rows, "vote"))
    frame["repetition"] = _whole_numbers(frame, "repetition", allowed=None)
    frame["is_reference"] = _whole_numbers(frame, "is_reference", allowed={0, 1}).astype(bool)


def _whole_numbers(frame: pd.DataFrame, column: str, *, allowed: set[int] | None) -> pd.Series:
    """Return ``frame[column]`` as int64, or raise ``VotesError`` (negative, fractional or not allowed)."""
    values = pd.to_numeric(frame[column], errors="coerce")
    bad = values.isna() | (values < 0) | (values != values.round())
    if allowed is not None:
        bad |= ~values.isin(allowed)
    if bad.any():
        expected = "0 or 1" if allowed else "a whole number >= 0"
        raise VotesError(f"{column} must be {expected}; {int(bad.sum())} row(s) are not, e.g. "
                         f"{_example(frame[bad], column)}")
    return values.astype("int64")


def _check_consistency(frame: pd.DataFrame) -> None:
    """Raise ``VotesError`` for duplicate votes or stimuli with conflicting attributes."""
    duplicated = frame.duplicated(["subject", "stimulus", "repetition"], keep=False)
    if duplicated.any():
        raise VotesError(
            f"{int(duplicated.sum())} rows share (subject, stimulus, repetition), e.g. "
            f"{_example(frame[duplicated], 'repetition')}; give repeated votes distinct repetition numbers"
        )
    for column in ("reference", "is_reference"):
        conflicting = frame.groupby("stimulus")[column].nunique() > 1
        if conflicting.any():
            raise VotesError(f"stimulus {conflicting.index[conflicting][0]!r} has more than one {column}")
    hidden = _stimuli(frame).query("is_reference").groupby("reference")["stimulus"].nunique()
    if (hidden > 1).any():
        raise VotesError(f"reference {hidden.index[hidden > 1][0]!r} has more than one hidden-reference stimulus")


def _row_name(index: int) -> str:
    """Where a row of the table is: data row n, and its line in a CSV file with a header."""
    return f"data row {index + 1} (line {index + 2} of a CSV with a header)"


def _example(rows: pd.DataFrame, column: str) -> str:
    """Describe the first row of ``rows`` for an error message: where it is and what it holds."""
    row = rows.iloc[0]
    value = row[column]
    shown = repr(value) if isinstance(value, str) else str(value)
    where = _row_name(int(rows.index[0]))
    return f"{where}: subject {row['subject']!r}, stimulus {row['stimulus']!r}, {column}={shown}"


def _stimuli(votes: pd.DataFrame) -> pd.DataFrame:
    """Return stimulus, reference, is_reference: one row per stimulus, in order of first appearance."""
    return votes.drop_duplicates("stimulus")[["stimulus", "reference", "is_reference"]].reset_index(drop=True)


def analyse(
    votes: pd.DataFrame,
    *,
    model: str = "mos",
    ci: str = "t",
    extra_rejected: Mapping[str, str] | None = None,
) -> AnalysisResult:
    """Estimate one score per stimulus with ``model`` (one of ``MODELS``).

    ``extra_rejected`` maps subjects rejected for other reasons (e.g. failed
    gold trials) to that reason: their votes are removed before the model runs
    and they are reported as rejected with it. A stimulus left without votes
    keeps its row with ``n_votes`` 0 and NaN scores.

    ``ci``: ``"t"`` (default) takes score ± t(0.975, n−1) × score_std with n the
    stimulus's ``n_votes`` (Student t for small panels; see ITU-T P.1401 and the
    confidence-interval clause of ITU-T P.910 (2023)); ``"normal"`` takes
    1.95996 as ITU-R BT.500 Annex 2 §A2-2.1 (see) and sureal do. For ``p910``
    and ``mle`` score_std comes from the likelihood's curvature, not from a
    sample, so ``"t"`` there is a conservative small-sample widening.
    ``ci`` applies to stimulus scores; subject and content intervals are those
    sureal reports (normal for bias and ambiguity, chi-squared for inconsistency).
    """
    spec = _model(model)
    _check_ci(ci)
    votes = validate_votes(votes)
    extra = {str(subject): str(reason) or "rejected before analysis"
             for subject, reason in (extra_rejected or {}).items()}
    kept = votes[~votes["subject"].isin(extra)]
    if kept.empty:
        raise VotesError("no votes left once the extra_rejected subjects are removed")
    if spec.sureal_class is not None:
        fit = _fit_sureal(spec, kept)
    else:
        fit = _fit_pcc_screened(kept, spec) if spec.screening else _fit_mos(kept)
    scores = _stimuli(votes).merge(fit.scores, on="stimulus", how="left")
    scores["n_votes"] = scores["n_votes"].fillna(0).astype("int64")
    return AnalysisResult(
        model=spec.name,
        model_version=spec.version,
        ci=ci,
        scores=_with_ci(scores, "score", ci)[list(SCORE_COLUMNS)],
        subjects=_subject_table(votes, fit.subjects, extra),
        contents=fit.contents,
    )


def _model(name: str) -> SubjectModel:
    """Return the registry entry for ``name`` or raise ``ValueError`` with a suggestion."""
    if name in REGISTRY:
        return REGISTRY[name]
    close = difflib.get_close_matches(str(name), MODELS, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"unknown model {name!r}: choose one of {', '.join(MODELS)}{hint}")


def _check_ci(ci: str) -> None:
    """Raise ``ValueError`` unless ``ci`` is one of ``CI_METHODS``."""
    if ci not in CI_METHODS:
        raise ValueError(f"unknown ci {ci!r}: choose one of {', '.join(CI_METHODS)}")


def _mean_table(frame: pd.DataFrame, value: str) -> pd.DataFrame:
    """Per stimulus: n_votes, mean and standard error (sample std, ddof=1, over √n) of ``value``."""
    table = frame.groupby("stimulus", sort=False)[value].agg(n_votes="count", mean="mean", sd="std")
    table["std_err"] = table["sd"] / np.sqrt(table["n_votes"])
    return table.drop(columns="sd").reset_index()


def _with_ci(frame: pd.DataFrame, value: str, ci: str) -> pd.DataFrame:
    """Add ci95_low and ci95_high around ``value`` ± quantile × ``{value}_std``.

    The quantile is 1.95996 (``ci="normal"``) or Student t(0.975, n_votes − 1)
    (``ci="t"``; NaN for a single vote).
    """
    if ci == "normal":
        quantile = NORMAL_Q975
    else:
        dof = frame["n_votes"].to_numpy(dtype=float) - 1
        quantile = stats.t.ppf(0.975, np.where(dof > 0, dof, np.nan))
    half = quantile * frame[f"{value}_std"]
    return frame.assign(ci95_low=frame[value] - half, ci95_high=frame[value] + half)


def _fit_mos(votes: pd.DataFrame) -> _Fit:
    """Plain MOS: the mean of every vote (repetitions included) of each stimulus."""
    scores = _mean_table(votes, "vote").rename(columns={"mean": "score", "std_err": "score_std"})
    return _Fit(scores=scores, subjects=pd.DataFrame({"subject": sorted(votes["subject"].unique())}))


def _pearson(x: pd.Series, y: pd.Series) -> float:
    """Pearson r, NaN with fewer than 3 points or a constant input."""
    if len(x) < 3 or x.nunique() < 2 or y.nunique() < 2:
        return np.nan
    return float(stats.pearsonr(x, y).statistic)


def _pcc_screening(votes: pd.DataFrame, subject: str, mos: pd.Series, spec: SubjectModel) -> dict:
    """One subject's r1 (per PVS) and r2 (per HRC, when votes have an ``hrc`` column) and the verdict."""
    own = votes[votes["subject"] == subject].groupby("stimulus")["vote"].mean()
    r1 = _pearson(own, mos[own.index])
    r2 = np.nan
    if "hrc" in votes:
        hrc = votes.drop_duplicates("stimulus").set_index("stimulus")["hrc"][own.index]
        r2 = _pearson(own.groupby(hrc).mean(), mos[own.index].groupby(hrc).mean())
    if own.nunique() < 2 and len(own) >= 3:
        return {"subject": subject, "rejected": True,
                "reason": f"{spec.screening}: every vote is {own.iloc[0]:g}, no correlation to compute"}
    rejected = bool(r1 < PCC_R1_MIN and (np.isnan(r2) or r2 < PCC_R2_MIN))
    return {"subject": subject, "rejected": rejected,
            "reason": f"{spec.screening}: r1={r1:.3f}, r2={r2:.3f}" if rejected else ""}


def _fit_pcc_screened(votes: pd.DataFrame, spec: SubjectModel) -> _Fit:
    """P.913 correlation screening, then plain MOS over the subjects kept.

    r1 is the Pearson correlation of a subject's votes (repetitions averaged)
    with the MOS of all subjects over the stimuli they rated; r2 the same on
    per-HRC means when the votes carry an ``hrc`` column. A subject is
    rejected when r1 < 0.75 and r2 < 0.8 (r1 alone without HRCs), or when
    all their votes (on 3 or more stimuli) are equal. One pass, no iteration.
    """
    mos = votes.groupby("stimulus")["vote"].mean()
    subjects = pd.DataFrame([_pcc_screening(votes, s, mos, spec) for s in sorted(votes["subject"].unique())])
    kept = votes[votes["subject"].isin(subjects.loc[~subjects["rejected"], "subject"])]
    if kept.empty:
        raise VotesError(f"{spec.screening} rejected every subject")
    return _Fit(scores=_fit_mos(kept).scores, subjects=subjects)


def _fit_sureal(spec: SubjectModel, votes: pd.DataFrame) -> _Fit:
    """Run the sureal class of ``spec`` on ``votes`` and convert its result."""
    from sureal.dataset_reader import (
        RawDatasetReader,  # slow import with side effects: see the module docstring
    )

    dataset = to_sureal_dataset(votes, dataset_name="faceqa")
    reader = RawDatasetReader(types.SimpleNamespace(**dataset))
    try:
        with _quiet():
            result = spec.load()(reader).run_modeling()
    except AssertionError as exc:
        raise VotesError(f"sureal {spec.name} cannot analyse these votes: {exc}") from exc
    return _Fit(
        scores=_sureal_scores(result, dataset),
        subjects=_sureal_subjects(result, spec),
        contents=_sureal_contents(result, dataset),
    )


@contextlib.contextmanager
def _quiet():
    """Swallow sureal's progress prints and its numpy warnings (empty slices, 0/0 statistics).

    ``redirect_stdout`` swaps ``sys.stdout`` for the whole process while sureal
    runs: another thread printing meanwhile loses its output.
    """
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def _sureal_scores(result: dict, dataset: dict) -> pd.DataFrame:
    """Return stimulus, n_votes, score, score_std from a sureal result (votes counted after rejection)."""
    return pd.DataFrame({
        "stimulus": [video["path"] for video in dataset["dis_videos"]],
        "n_votes": (~np.isnan(result["raw_scores"])).sum(axis=(1, 2)),
        "score": np.asarray(result["quality_scores"], dtype=float),
        "score_std": np.asarray(result["quality_scores_std"], dtype=float),
    })


def _sureal_subjects(result: dict, spec: SubjectModel) -> pd.DataFrame:
    """Return one row per subject (sureal's sorted observers) with the model's subject statistics."""
    frame = pd.DataFrame({"subject": result["observers"]})
    for key, column in (
        ("observer_rejected", "rejected"),
        ("observer_rejected_1st_stats", "outlier_rate"),
        ("observer_rejected_2nd_stats", "outlier_skew"),
        ("observer_bias", "bias"),
        ("observer_bias_std", "bias_std"),
        ("observer_inconsistency", "inconsistency"),
        ("observer_inconsistency_std", "inconsistency_std"),
    ):
        if key in result:
            frame[column] = np.asarray(result[key])
    for column in ("bias", "inconsistency"):
        if f"observer_{column}_ci95" in result:
            below, above = (np.asarray(margin, dtype=float) for margin in result[f"observer_{column}_ci95"])
            frame[f"{column}_ci95_low"] = frame[column] - below
            frame[f"{column}_ci95_high"] = frame[column] + above
    if "rejected" in frame:
        frame["reason"] = [
            _screening_reason(spec, row.outlier_rate, row.outlier_skew) if row.rejected else ""
            for row in frame.itertuples()
        ]
    return frame


def _screening_reason(spec: SubjectModel, rate: float, skew: float) -> str:
    """Say which rule rejected a subject, with its two statistics."""
    return f"{spec.screening}: (P+Q)/(E·R)={rate:.3g} > 0.05 and |P−Q|/(P+Q)={skew:.3g} < 0.3"


def _sureal_contents(result: dict, dataset: dict) -> pd.DataFrame | None:
    """Return reference, ambiguity (std, CI) per SRC when the model estimates content ambiguity."""
    if "content_ambiguity" not in result:
        return None
    names = {video["content_id"]: video["content_name"] for video in dataset["ref_videos"]}
    ambiguity = np.asarray(result["content_ambiguity"], dtype=float)
    below, above = (np.asarray(margin, dtype=float) for margin in result["content_ambiguity_ci95"])
    return pd.DataFrame({
        "reference": [names[content_id] for content_id in range(len(ambiguity))],
        "ambiguity": ambiguity,
        "ambiguity_std": np.asarray(result["content_ambiguity_std"], dtype=float),
        "ambiguity_ci95_low": ambiguity - below,
        "ambiguity_ci95_high": ambiguity + above,
    })[list(CONTENT_COLUMNS)]


def _subject_table(votes: pd.DataFrame, fitted: pd.DataFrame, extra: Mapping[str, str]) -> pd.DataFrame:
    """Return ``SUBJECT_COLUMNS`` for every subject who voted or was rejected beforehand, sorted by name."""
    names = sorted(set(votes["subject"]) | set(extra))
    table = pd.DataFrame({"subject": names}).merge(fitted, on="subject", how="left")
    for column in SUBJECT_COLUMNS[1:]:
        if column not in table:
            table[column] = "" if column == "reason" else np.nan
    rejected = table["rejected"].astype("boolean").fillna(False).astype(bool)
    table["rejected"] = table["subject"].isin(extra) | rejected
    table["reason"] = [
        extra.get(subject, reason if isinstance(reason, str) else "")
        for subject, reason in zip(table["subject"], table["reason"], strict=True)
    ]
    return table[list(SUBJECT_COLUMNS)]


def dmos(votes: pd.DataFrame, *, ci: str = "t", rejected: Iterable[str] = ()) -> pd.DataFrame:
    """Differential MOS of each PVS from ACR-HR votes (see ITU-T P.910 (2023), the ACR-HR clause).

    Per viewer: DV(PVS) = V(PVS) − V(REF) + 5, where V(REF) is that viewer's
    vote for the hidden reference of the PVS's SRC (the stimulus of the same
    ``reference`` with ``is_reference``), from the same repetition if there is
    one, else from the viewer's first. Then per PVS: the mean of the DVs, its
    standard error and 95 % CI as in ``analyse``. A vote whose viewer never
    rated that hidden reference has no DV and is skipped. DVs above 5 (a PVS
    rated above its reference) are kept, not clipped: P.910 allows either, and
    clipping would bias the mean down.

    ``rejected``: subjects whose votes are dropped first. Returns
    ``DMOS_COLUMNS``, one row per PVS (hidden references excluded), in order of
    first appearance; ``n_votes`` counts the DVs (0, with NaN, when none).
    """
    _check_ci(ci)
    votes = validate_votes(votes)
    votes = votes[~votes["subject"].isin(set(rejected))]
    pvs = votes[~votes["is_reference"]]
    differential = pvs.assign(dv=pvs["vote"] - _hidden_reference_votes(votes, pvs) + ACR_SCALE[1])
    differential = differential.dropna(subset="dv")
    table = _stimuli(pvs).merge(_mean_table(differential, "dv"), on="stimulus", how="left")
    table = table.rename(columns={"mean": "dmos", "std_err": "dmos_std"})
    table["n_votes"] = table["n_votes"].fillna(0).astype("int64")
    return _with_ci(table, "dmos", ci)[list(DMOS_COLUMNS)]


def _hidden_reference_votes(votes: pd.DataFrame, pvs: pd.DataFrame) -> np.ndarray:
    """For each row of ``pvs``: the same subject's vote for its SRC's hidden reference, or NaN.

    Same repetition when the subject rated the reference in it, else the
    subject's first (lowest) repetition of the reference.
    """
    hidden = votes[votes["is_reference"]][["subject", "reference", "repetition", "vote"]]
    keys = ["subject", "reference"]
    same = pvs[keys + ["repetition"]].merge(hidden, on=keys + ["repetition"], how="left")["vote"]
    first = hidden.sort_values("repetition").drop_duplicates(keys)
    fallback = pvs[keys].merge(first.drop(columns="repetition"), on=keys, how="left")["vote"]
    return same.fillna(fallback).to_numpy()


def to_sureal_dataset(
    votes: pd.DataFrame,
    *,
    dataset_name: str,
    width: int | None = None,
    height: int | None = None,
    paths: Mapping[str, str] | None = None,
) -> dict:
    """Return the votes as a sureal raw dataset: a JSON-serialisable dict.

    Keys: ``dataset_name``, ``ref_score`` (5.0, the top of the ACR scale, used by
    sureal's DMOS models), ``width``/``height`` when given, ``ref_videos``
    (content_id, content_name = reference, path) and ``dis_videos`` (asset_id,
    content_id, path, ``os``: subject → vote, or the list of votes in repetition
    order when a subject repeated). Ids follow the order of first appearance.
    ``paths`` maps stimulus names to file paths (default: the name). The
    reference video's path is its hidden-reference stimulus's path, so that
    sureal recognises that stimulus as the reference. Written with
    ``json.dump`` to a ``.json`` file, it is what sureal's own loader reads.
    """
    votes = validate_votes(votes)
    paths = dict(paths or {})
    stimuli = _stimuli(votes)
    content_ids = {reference: index for index, reference in enumerate(pd.unique(stimuli["reference"]))}
    hidden = stimuli[stimuli["is_reference"]].set_index("reference")["stimulus"]
    opinions = _opinion_scores(votes)
    dataset = {"dataset_name": dataset_name, "ref_score": ACR_SCALE[1]}
    dataset.update({key: value for key, value in (("width", width), ("height", height)) if value is not None})
    dataset["ref_videos"] = [
        {"content_id": content_id, "content_name": reference,
         "path": paths.get(hidden.get(reference, reference), hidden.get(reference, reference))}
        for reference, content_id in content_ids.items()
    ]
    dataset["dis_videos"] = [
        {"asset_id": asset_id, "content_id": content_ids[row.reference],
         "path": paths.get(row.stimulus, row.stimulus), "os": opinions[row.stimulus]}
        for asset_id, row in enumerate(stimuli.itertuples())
    ]
    return dataset


def _opinion_scores(votes: pd.DataFrame) -> dict[str, dict[str, float | list[float]]]:
    """Return stimulus → subject → vote (float), or list of votes by repetition when repeated."""
    opinions: dict[str, dict[str, float | list[float]]] = {}
    ordered = votes.sort_values(["stimulus", "subject", "repetition"], kind="stable")
    for (stimulus, subject), group in ordered.groupby(["stimulus", "subject"], sort=False)["vote"]:
        values = [float(vote) for vote in group]
        opinions.setdefault(stimulus, {})[subject] = values[0] if len(values) == 1 else values
    return opinions
