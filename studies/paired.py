"""Pair comparison (PC) votes and their scaling by Thurstone Case V or Bradley–Terry. Django-free.

Pair votes come in long format, one row per forced choice (see
``validate_pair_votes``): ``subject, stimulus_a, stimulus_b, preferred``
[, ``repetition``], where ``preferred`` names the stimulus chosen (ITU-T
P.910 (10/2023), the pair comparison method). Stimulus names are
``SRC/HRC`` (split at the first ``/``: SRC names are slugs); ``SRC/REF`` is the SRC's hidden
reference. FaceQA compares stimuli of one SRC only, so a pair across SRCs is
refused: a preference between two contents says nothing about a codec.

``scale_pairs`` fits one of ``PAIR_MODELS`` to each SRC on its own (SRCs are
never compared with each other, so their scales are unrelated):

- ``thurstone``: Thurstone Case V, P(i preferred to j) = Phi(v_i - v_j)
  (Thurstone 1927, "A law of comparative judgment"; maximum likelihood as in
  sureal's ``ThurstoneMlePairedCompSubjectiveModel``). The unit is the
  standard deviation of the difference of two discriminal processes, i.e.
  sqrt(2) times the discriminal dispersion of one stimulus: a difference of
  1 means a preference of Phi(1) = 84 %. ``studies.simulation`` draws choices
  this way with sigma_obs = sqrt(2) * inconsistency, so the scale estimates
  latent quality / sigma_obs.
- ``bradley-terry``: P(i preferred to j) = 1 / (1 + exp(-(v_i - v_j))),
  v = ln p (Bradley and Terry 1952; sureal's
  ``BradleyTerryMlePairedCompSubjectiveModel``). The unit is the natural
  log-odds of a preference: a difference of 1 means 73 %.

The scale values are sureal's maximum-likelihood estimates, shifted so that
the SRC's hidden reference (``SRC/REF``), or when absent its first stimulus
in order of appearance, is 0. Their standard errors are computed here from
the observed Fisher information of the same likelihood, for the contrast
v_i - v_anchor (so the anchor's is 0), and the 95 % interval is ± 1.95996
standard errors. sureal 0.9.0's own ``quality_scores_std`` is not used: by
simulation (200 data sets, 5 and 10 stimuli) its Thurstone values are about
0.72 times the spread of the estimates, and its Bradley–Terry Hessian has a
precedence slip (``n / pp*2`` for ``n / pp**2``) that makes the error shrink
where it should grow; the observed information matches the simulated spread
(``studies/tests/test_paired.py``).

The maximum-likelihood scale exists only when, within each SRC, every
stimulus both won and lost along some chain of comparisons (the comparison
graph of "i preferred to j" is strongly connected; Ford 1957). Otherwise
``scale_pairs`` raises ``PairVotesError`` naming the stimuli, unless a
``pseudo_count`` is given: it adds that many preferences in each direction
to every pair that was compared, a shrinkage towards "no difference" that
keeps the scale finite (0.5 is the usual choice).

sureal is imported when first used (about two seconds; see
``studies.analysis``).
"""

from __future__ import annotations

import contextlib
import difflib
import importlib
import io
import types
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import sparse, special
from scipy.sparse import csgraph

from studies.analysis import NORMAL_Q975, VotesError

REFERENCE_HRC = "REF"
PAIR_COLUMNS = ("subject", "stimulus_a", "stimulus_b")
PAIR_VOTE_COLUMNS = (*PAIR_COLUMNS, "preferred", "repetition")
SCALE_COLUMNS = (
    "stimulus", "src", "hrc", "n_comparisons", "n_preferred",
    "scale", "scale_std", "ci95_low", "ci95_high", "anchor",
)
SUREAL_OS_NOTE = (
    "os: list of [observer, asset_id of the other stimulus, 1 if this stimulus was preferred else 0]; "
    "sureal's PairedCompDatasetReader wants a dict keyed by (observer, asset_id) tuples, which JSON cannot "
    "hold: convert with {(o, j): v for o, j, v in os}. The n-th comparison (n >= 2) of the same pair by one "
    "subject is filed under observer 'SUBJECT#n', since sureal keeps one choice per observer and pair."
)


class PairVotesError(VotesError):
    """Pair or CCR votes that cannot be analysed; the message says what was wrong."""


@dataclass(frozen=True)
class PairModel:
    """One entry of ``PAIR_REGISTRY``: a sureal pair-comparison model and the unit of its scale."""

    name: str
    label: str
    source: str
    unit: str
    sureal_class: str

    def load(self) -> type:
        """Import and return the sureal class."""
        module, _, attribute = self.sureal_class.rpartition(".")
        return getattr(importlib.import_module(module), attribute)

    @property
    def version(self) -> str:
        """Return e.g. ``sureal-0.9.0/THURSTONE_MLE_V1.2+faceqa-se/1`` (scale by sureal, errors by us)."""
        model_class = self.load()
        sureal = importlib.import_module("sureal")
        return f"sureal-{sureal.__version__}/{model_class.TYPE}_V{model_class.VERSION}+faceqa-se/1"


PAIR_REGISTRY: dict[str, PairModel] = {
    model.name: model
    for model in (
        PairModel(
            name="thurstone",
            label="Thurstone Case V, maximum likelihood",
            source="Thurstone, 'A law of comparative judgment', Psychological Review 34 (1927), Case V; "
                   "maximum likelihood as sureal implements it",
            unit="SD of the difference of two discriminal processes (sqrt(2) x one stimulus's dispersion); "
                 "1 = 84 % preference",
            sureal_class="sureal.pc_subjective_model.ThurstoneMlePairedCompSubjectiveModel",
        ),
        PairModel(
            name="bradley-terry",
            label="Bradley–Terry, maximum likelihood",
            source="Bradley and Terry, 'Rank analysis of incomplete block designs', Biometrika 39 (1952); "
                   "the MM iteration of sureal",
            unit="natural log-odds of a preference; 1 = 73 % preference",
            sureal_class="sureal.pc_subjective_model.BradleyTerryMlePairedCompSubjectiveModel",
        ),
    )
}
PAIR_MODELS = tuple(PAIR_REGISTRY)


@dataclass(frozen=True)
class PairScaleResult:
    """What ``scale_pairs`` returns.

    ``scores``: one row per stimulus, columns ``SCALE_COLUMNS``, grouped by SRC
    in order of first appearance: ``n_comparisons`` (int) the choices the
    stimulus took part in, ``n_preferred`` (int) those it won, ``scale``,
    ``scale_std``, ``ci95_low``, ``ci95_high`` (float, in ``unit``) relative to
    ``anchor`` (the stimulus at 0 in its SRC). ``skipped``: with
    ``skip_unscalable``, the SRCs left out, each with why.
    """

    model: str
    model_version: str
    unit: str
    pseudo_count: float
    scores: pd.DataFrame
    skipped: dict[str, str] = field(default_factory=dict)


def split_stimulus(name: str) -> tuple[str, str]:
    """Return (SRC, HRC) of a stimulus name ``SRC/HRC``, split at the first ``/`` (SRC names are slugs; an
    HRC label may hold a ``/``); ``PairVotesError`` if none."""
    src, slash, hrc = str(name).partition("/")
    if not slash or not src or not hrc:
        raise PairVotesError(f"stimulus {name!r} is not named SRC/HRC (e.g. 'src01/hevc_qp37' or 'src01/REF')")
    return src, hrc


def read_pair_votes_csv(path) -> pd.DataFrame:
    """Read a pair votes CSV and return it validated (``validate_pair_votes``).

    Raises ``PairVotesError`` for content that is not a pair votes table,
    ``OSError`` when the file cannot be read.
    """
    return validate_pair_votes(read_pairs_csv(path, text_columns=("preferred",)))


def read_pairs_csv(path, *, text_columns: tuple[str, ...] = ()) -> pd.DataFrame:
    """Read a CSV with subject and stimulus names as text; ``PairVotesError`` if it is no table."""
    names = dict.fromkeys((*PAIR_COLUMNS, *text_columns), str)
    try:
        return pd.read_csv(path, dtype=names)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise PairVotesError(f"not a readable CSV table: {exc}") from exc


def validate_pair_votes(votes: pd.DataFrame) -> pd.DataFrame:
    """Return a normalised copy of pair votes, or raise ``PairVotesError``.

    Columns: ``subject``, ``stimulus_a``, ``stimulus_b``, ``preferred`` (str;
    ``preferred`` equals ``stimulus_a`` or ``stimulus_b``) and ``repetition``
    (int >= 0, default 0), first, other columns kept after. The checks of
    ``validate_pair_table`` apply (SRC/HRC names, a != b, same SRC, no
    duplicate (subject, a, b, repetition)). Adds ``a_preferred`` (bool).
    """
    frame = validate_pair_table(votes, value_column="preferred")
    _strip_names(frame, "preferred")
    neither = (frame["preferred"] != frame["stimulus_a"]) & (frame["preferred"] != frame["stimulus_b"])
    if neither.any():
        raise PairVotesError(
            f"preferred is neither stimulus_a nor stimulus_b in {int(neither.sum())} row(s), e.g. "
            f"{_describe(frame[neither], 'preferred')}"
        )
    frame["a_preferred"] = frame["preferred"] == frame["stimulus_a"]
    return columns_first(frame, PAIR_VOTE_COLUMNS)


def validate_pair_table(votes: pd.DataFrame, *, value_column: str) -> pd.DataFrame:
    """Check what pair votes and CCR votes share; return a copy with names stripped and ``repetition`` set.

    Raises ``PairVotesError`` when a column is missing, the table is empty, a
    name is empty or not ``SRC/HRC``, a stimulus is paired with itself, a pair
    spans two SRCs, ``repetition`` is not a whole number >= 0, or two rows
    share (subject, stimulus_a, stimulus_b, repetition). Adds ``src``,
    ``hrc_a`` and ``hrc_b`` (str).
    """
    if not isinstance(votes, pd.DataFrame):
        raise PairVotesError(f"votes must be a pandas DataFrame, not {type(votes).__name__}")
    required = (*PAIR_COLUMNS, value_column)
    missing = [column for column in required if column not in votes.columns]
    if missing:
        raise PairVotesError(
            f"missing column(s) {', '.join(missing)}; found {', '.join(map(str, votes.columns))}"
        )
    if votes.empty:
        raise PairVotesError("no votes: the table is empty")
    frame = votes.reset_index(drop=True).copy()
    for column in PAIR_COLUMNS:
        _strip_names(frame, column)
    frame["repetition"] = _repetitions(frame)
    same = frame["stimulus_a"] == frame["stimulus_b"]
    if same.any():
        raise PairVotesError(
            f"a stimulus is compared with itself in {int(same.sum())} row(s), e.g. {_describe(frame[same])}"
        )
    parts_a = [split_stimulus(name) for name in frame["stimulus_a"]]
    parts_b = [split_stimulus(name) for name in frame["stimulus_b"]]
    frame["src"] = [src for src, _ in parts_a]
    frame["hrc_a"] = [hrc for _, hrc in parts_a]
    frame["hrc_b"] = [hrc for _, hrc in parts_b]
    across = frame["src"] != pd.Series([src for src, _ in parts_b], index=frame.index)
    if across.any():
        raise PairVotesError(
            f"{int(across.sum())} pair(s) compare stimuli of two SRCs, e.g. {_describe(frame[across])}; "
            "FaceQA compares stimuli of one SRC (a content difference is no codec difference)"
        )
    duplicated = frame.duplicated([*PAIR_COLUMNS, "repetition"], keep=False)
    if duplicated.any():
        raise PairVotesError(
            f"{int(duplicated.sum())} rows share (subject, stimulus_a, stimulus_b, repetition), e.g. "
            f"{_describe(frame[duplicated], 'repetition')}; give repeated comparisons distinct repetition numbers"
        )
    return frame


def _strip_names(frame: pd.DataFrame, column: str) -> None:
    """Make ``frame[column]`` non-empty stripped strings, in place, or raise ``PairVotesError``."""
    empty = frame[column].isna() | (frame[column].astype(str).str.strip() == "")
    if empty.any():
        raise PairVotesError(f"empty {column} in {int(empty.sum())} row(s), e.g. {_where(int(frame.index[empty][0]))}")
    frame[column] = frame[column].astype(str).str.strip()


def _repetitions(frame: pd.DataFrame) -> pd.Series:
    """Return ``repetition`` as int64 (0 when the column is absent), or raise ``PairVotesError``."""
    if "repetition" not in frame:
        return pd.Series(0, index=frame.index, dtype="int64")
    values = pd.to_numeric(frame["repetition"], errors="coerce")
    bad = values.isna() | (values < 0) | (values != values.round())
    if bad.any():
        raise PairVotesError(f"repetition must be a whole number >= 0; {int(bad.sum())} row(s) are not, e.g. "
                             f"{_describe(frame[bad], 'repetition')}")
    return values.astype("int64")


def _where(index: int) -> str:
    """Where a row is: data row n, and its line in a CSV file with a header."""
    return f"data row {index + 1} (line {index + 2} of a CSV with a header)"


def _describe(rows: pd.DataFrame, column: str | None = None) -> str:
    """Describe the first of ``rows`` for an error message: where it is, its pair and ``column``."""
    row = rows.iloc[0]
    text = (f"{_where(int(rows.index[0]))}: subject {row['subject']!r}, "
            f"stimulus_a {row['stimulus_a']!r}, stimulus_b {row['stimulus_b']!r}")
    if column is not None:
        value = row[column]
        text += f", {column}={value!r}" if isinstance(value, str) else f", {column}={value}"
    return text


def columns_first(frame: pd.DataFrame, first: tuple[str, ...]) -> pd.DataFrame:
    """Return ``frame`` with the ``first`` columns leading, the others after in their order."""
    return frame[list(first) + [column for column in frame.columns if column not in first]]


def stimuli_in_order(votes: pd.DataFrame) -> list[str]:
    """Every stimulus of validated pair votes in order of first appearance (row by row, a before b)."""
    names = np.column_stack([votes["stimulus_a"].to_numpy(), votes["stimulus_b"].to_numpy()]).ravel()
    return list(pd.unique(names))


def preference_counts(votes: pd.DataFrame) -> dict[str, tuple[list[str], np.ndarray]]:
    """Per SRC: its stimuli (order of first appearance) and C, int64 (n, n), C[i, j] = times i was preferred to j.

    ``votes``: pair votes (validated here). SRCs in order of first appearance.
    """
    votes = validate_pair_votes(votes)
    result: dict[str, tuple[list[str], np.ndarray]] = {}
    for src, group in votes.groupby("src", sort=False):
        names = stimuli_in_order(group)
        index = {name: position for position, name in enumerate(names)}
        winners = np.where(group["a_preferred"], group["stimulus_a"], group["stimulus_b"])
        losers = np.where(group["a_preferred"], group["stimulus_b"], group["stimulus_a"])
        counts = np.zeros((len(names), len(names)), dtype=np.int64)
        np.add.at(counts, ([index[name] for name in winners], [index[name] for name in losers]), 1)
        result[src] = (names, counts)
    return result


def sureal_pc_dataset(votes: pd.DataFrame, *, dataset_name: str = "faceqa") -> dict:
    """Return the pair votes as a sureal pair-comparison dataset: a JSON-serialisable dict.

    Keys: ``dataset_name``, ``os_format`` (``SUREAL_OS_NOTE``),
    ``ref_videos`` (content_id, content_name = SRC, path = the SRC's hidden
    reference ``SRC/REF`` when it was compared, else the SRC name) and
    ``dis_videos`` (asset_id, content_id, path = stimulus name, ``os``: a list
    of [observer, asset_id of the other stimulus, 1 or 0], 1 when this
    stimulus was preferred). Each choice is filed once, under its
    ``stimulus_a``. Ids follow the order of first appearance.
    ``sureal_pc_reader`` turns the dict into sureal's reader.
    """
    votes = validate_pair_votes(votes)
    names = stimuli_in_order(votes)
    asset = {name: position for position, name in enumerate(names)}
    sources = list(pd.unique(votes["src"]))
    content = {src: position for position, src in enumerate(sources)}
    opinions: dict[str, list[list]] = {name: [] for name in names}
    a_first = votes["stimulus_a"] < votes["stimulus_b"]
    ordered = votes.assign(
        first=votes["stimulus_a"].where(a_first, votes["stimulus_b"]),
        second=votes["stimulus_b"].where(a_first, votes["stimulus_a"]),
        row=np.arange(len(votes)),
    ).sort_values(["repetition", "row"], kind="stable")
    ordered["nth"] = ordered.groupby(["subject", "first", "second"]).cumcount() + 1
    for row in ordered.sort_values("row").itertuples():
        observer = row.subject if row.nth == 1 else f"{row.subject}#{row.nth}"
        opinions[row.stimulus_a].append([observer, asset[row.stimulus_b], int(row.a_preferred)])
    return {
        "dataset_name": dataset_name,
        "os_format": SUREAL_OS_NOTE,
        "ref_videos": [
            {"content_id": content[src], "content_name": src,
             "path": f"{src}/{REFERENCE_HRC}" if f"{src}/{REFERENCE_HRC}" in asset else src}
            for src in sources
        ],
        "dis_videos": [
            {"asset_id": asset[name], "content_id": content[split_stimulus(name)[0]], "path": name,
             "os": opinions[name]}
            for name in names
        ],
    }


def sureal_pc_reader(dataset: dict):
    """Return sureal's ``PairedCompDatasetReader`` for a ``sureal_pc_dataset`` dict (e.g. read back from JSON)."""
    from sureal.dataset_reader import PairedCompDatasetReader  # slow import: see the module docstring

    converted = dict(dataset)
    converted["dis_videos"] = [
        {**video, "os": {(str(observer), int(other)): value for observer, other, value in video["os"]}}
        for video in dataset["dis_videos"]
    ]
    return PairedCompDatasetReader(types.SimpleNamespace(**converted))


def scale_pairs(votes: pd.DataFrame, *, model: str = "thurstone", pseudo_count: float = 0.0,
                skip_unscalable: bool = False) -> PairScaleResult:
    """Scale every SRC's stimuli from pair votes with ``model`` (one of ``PAIR_MODELS``).

    The preference counts are read through sureal's ``PairedCompDatasetReader``
    from ``sureal_pc_dataset(votes)``; each SRC is fitted alone by the model's
    ``resolve_model``; see the module docstring for the anchor, unit, standard
    errors and ``pseudo_count`` (>= 0). Raises ``PairVotesError`` for invalid
    votes, an SRC whose comparisons do not connect all its stimuli, or, with
    ``pseudo_count`` 0, an SRC whose scale is unbounded; with
    ``skip_unscalable`` such an SRC is left out instead (``skipped`` says why)
    and only votes that cannot be read, or no SRC left, raise.
    """
    spec = _pair_model(model)
    pseudo_count = float(pseudo_count)
    if not np.isfinite(pseudo_count) or pseudo_count < 0:
        raise ValueError(f"pseudo_count must be a finite number >= 0, not {pseudo_count}")
    votes = validate_pair_votes(votes)
    tables, skipped = [], {}
    for src, group in votes.groupby("src", sort=False):
        dataset = sureal_pc_dataset(group)  # one SRC at a time: sureal's array is stimuli^2 x observers
        with _quiet():
            counts = np.nansum(sureal_pc_reader(dataset).opinion_score_3darray, axis=2)
        names = [video["path"] for video in dataset["dis_videos"]]
        try:
            tables.append(_scale_src(spec, names, counts, pseudo_count))
        except PairVotesError as error:
            if not skip_unscalable:
                raise
            skipped[src] = str(error)
    if not tables:
        raise PairVotesError("no SRC could be scaled: " + "; ".join(skipped.values()))
    return PairScaleResult(
        model=spec.name,
        model_version=spec.version,
        unit=spec.unit,
        pseudo_count=pseudo_count,
        scores=pd.concat(tables, ignore_index=True)[list(SCALE_COLUMNS)],
        skipped=skipped,
    )


def _pair_model(name: str) -> PairModel:
    """Return the registry entry for ``name`` or raise ``ValueError`` with a suggestion."""
    if name in PAIR_REGISTRY:
        return PAIR_REGISTRY[name]
    close = difflib.get_close_matches(str(name), PAIR_MODELS, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"unknown pair model {name!r}: choose one of {', '.join(PAIR_MODELS)}{hint}")


def _scale_src(spec: PairModel, names: list[str], counts: np.ndarray, pseudo_count: float) -> pd.DataFrame:
    """Fit one SRC: ``counts`` float (n, n), counts[i, j] = times i preferred to j; return its score rows."""
    compared = (counts + counts.T) > 0
    fitted = counts + pseudo_count * compared
    _check_connected(names, fitted)
    v = _fit(spec, fitted)
    anchor = next((i for i, name in enumerate(names) if split_stimulus(name)[1] == REFERENCE_HRC), 0)
    scale = v - v[anchor]
    std = anchored_standard_errors(v, fitted, model=spec.name, anchor=anchor)
    src = split_stimulus(names[0])[0]
    return pd.DataFrame({
        "stimulus": names,
        "src": src,
        "hrc": [split_stimulus(name)[1] for name in names],
        "n_comparisons": (counts + counts.T).sum(axis=1).round().astype("int64"),
        "n_preferred": counts.sum(axis=1).round().astype("int64"),
        "scale": scale,
        "scale_std": std,
        "ci95_low": scale - NORMAL_Q975 * std,
        "ci95_high": scale + NORMAL_Q975 * std,
        "anchor": names[anchor],
    })


def _check_connected(names: list[str], counts: np.ndarray) -> None:
    """Raise ``PairVotesError`` unless "i preferred to j" connects every stimulus both ways (Ford 1957)."""
    wins = sparse.csr_matrix(counts > 0)
    n_weak, weak = csgraph.connected_components(wins, directed=True, connection="weak")
    if n_weak > 1:
        apart = [name for name, label in zip(names, weak, strict=True) if label != weak[0]]
        raise PairVotesError(
            f"SRC {split_stimulus(names[0])[0]!r}: {', '.join(apart)} never compared, directly or through "
            f"other stimuli, with {names[0]}: their scales are unrelated"
        )
    n_strong, strong = csgraph.connected_components(wins, directed=True, connection="strong")
    if n_strong > 1:
        for label in range(n_strong):
            inside = strong == label
            if not (counts[np.ix_(~inside, inside)] > 0).any():  # never beaten from outside
                group = [name for name, flag in zip(names, inside, strict=True) if flag]
                raise PairVotesError(
                    f"SRC {split_stimulus(names[0])[0]!r}: {', '.join(group)} won every comparison with the "
                    "other stimuli, so the maximum-likelihood scale is unbounded; collect comparisons in which "
                    "they lose, or add a pseudo-count (e.g. 0.5)"
                )


def _fit(spec: PairModel, counts: np.ndarray) -> np.ndarray:
    """Return sureal's maximum-likelihood scale (n,) for ``counts`` (any offset)."""
    model_class = spec.load()
    try:
        with _quiet():
            if spec.name == "bradley-terry":
                v = model_class.resolve_model(counts, display=False)[0]
            else:
                v = model_class.resolve_model(counts)[0]
    except AssertionError as exc:
        raise PairVotesError(f"sureal {spec.name} did not converge: {exc}") from exc
    return np.asarray(v, dtype=float)


def information_matrix(v: np.ndarray, counts: np.ndarray, *, model: str) -> np.ndarray:
    """Observed Fisher information of the pair model's log-likelihood at ``v``, float (n, n).

    ``v``: scale (n,); ``counts`` (n, n): counts[i, j] = times i preferred to
    j. With d = v_i - v_j, the weight of a pair is w_ij = -(c_ij h(d) +
    c_ji h(-d)), h = (log F)'' for the model's F: Thurstone F = Phi,
    h(x) = -r(x)(x + r(x)), r = phi/Phi; Bradley–Terry F = logistic,
    h(x) = -F(x)(1 - F(x)). I_ij = -w_ij (i != j), I_ii = sum_j w_ij: rows sum
    to 0, since the likelihood ignores the offset.
    """
    v = np.asarray(v, dtype=float)
    d = v[:, None] - v[None, :]
    if model == "bradley-terry":
        p = special.expit(d)
        weight = (counts + counts.T) * p * (1 - p)
    else:
        weight = -(counts * _second_log_phi(d) + counts.T * _second_log_phi(-d))
    np.fill_diagonal(weight, 0.0)
    return np.diag(weight.sum(axis=1)) - weight


def anchored_standard_errors(v: np.ndarray, counts: np.ndarray, *, model: str, anchor: int) -> np.ndarray:
    """Standard errors (n,) of v_i - v_anchor at the maximum-likelihood ``v`` (0 for the anchor).

    The inverse of ``information_matrix`` without the anchor's row and column
    (which fixes the offset) is the asymptotic covariance of the contrasts;
    the errors are the square roots of its diagonal (NaN where singular).
    """
    information = information_matrix(v, counts, model=model)
    keep = np.arange(len(information)) != anchor
    std = np.zeros(len(information))
    try:
        covariance = np.linalg.inv(information[np.ix_(keep, keep)])
        std[keep] = np.sqrt(np.clip(np.diag(covariance), 0.0, None))
    except np.linalg.LinAlgError:
        std[keep] = np.nan
    return std


def _second_log_phi(x: np.ndarray) -> np.ndarray:
    """d^2/dx^2 log Phi(x) = -r(x)(x + r(x)), r = phi/Phi computed in logs (stable for x << 0)."""
    ratio = np.exp(-0.5 * x**2 - 0.5 * np.log(2 * np.pi) - special.log_ndtr(x))
    return -ratio * (x + ratio)


@contextlib.contextmanager
def _quiet():
    """Swallow sureal's solver prints and numpy warnings while it runs (see ``studies.analysis``)."""
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        yield
