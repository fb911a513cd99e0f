"""Reads of study state: a participant's next trial, progress, votes as a table (single stimuli or pairs)."""
from dataclasses import dataclass

import pandas as pd
from django.db.models import Count, Q

from qa_platform.core.models import Pvs
from studies.methods import FIRST, get_method
from studies.models import (
    Method,
    PairDesign,
    Participant,
    Presentation,
    Qualification,
    Stimulus,
    StimulusRole,
    Study,
    Trial,
    Vote,
)
from studies.qualification import questionnaire_counts
from studies.screening import gold_flags

VOTE_COLUMNS = [
    "subject", "stimulus", "reference", "vote", "repetition", "is_reference", "hrc", "simulated",
    "pvs_id", "watch_seconds", "stall_count", "stall_seconds", "replays", "video_seconds", "voted_at",
]


def playback_seconds(study: Study, stimulus: Stimulus) -> float:
    """How long one showing of ``stimulus`` plays, seconds: its clip, or for a pair shown one after the
    other both clips and the grey gap between them (side by side: one clip)."""
    clip = stimulus.source.duration_seconds
    if stimulus.is_pair and study.presentation == Presentation.SEQUENTIAL:
        return 2 * clip + study.gap_ms / 1000
    return clip


def next_trial(participant: Participant) -> Trial | None:
    """The first trial of the playlist without a vote (with its stimulus and SRC), or None when all are answered."""
    return (
        participant.trials.filter(vote__isnull=True)
        .select_related("stimulus__source")
        .order_by("position").first()
    )


def participant_by_anonymous_id(study: Study, anonymous_id: str) -> Participant | None:
    """The participant of ``study`` named ``anonymous_id`` (``P007``, ``sim012``), or None."""
    prefix = "sim" if anonymous_id.startswith("sim") else "P"
    number = anonymous_id[len(prefix):]
    if not number.isdigit():
        return None
    return study.participants.filter(pk=int(number), is_simulated=prefix == "sim").first()


@dataclass(frozen=True)
class Progress:
    answered: int
    total: int


def participant_progress(participant: Participant) -> Progress:
    """Trials answered, and trials in all: those stored, plus the pairs active sampling
    has still to choose (PC)."""
    counts = participant.trials.aggregate(total=Count("pk"), answered=Count("vote"),
                                          test=Count("pk", filter=Q(stimulus__role=StimulusRole.TEST)))
    study = participant.study
    to_choose = 0
    if study.method == Method.PC and study.pair_design == PairDesign.ACTIVE:
        to_choose = max(0, (study.trials_per_participant or _rated_count(study)) - counts["test"])
    return Progress(answered=counts["answered"], total=counts["total"] + to_choose)


def _rated_count(study: Study) -> int:
    """Test stimuli that are not hidden references: PVSs, or pairs."""
    return sum(1 for s in study.stimuli.filter(role=StimulusRole.TEST) if not s.is_reference)


def study_video_size(study: Study) -> int:
    """The side of the study's largest video, pixels (what the viewing check must fit)."""
    return max(s.source.size for s in study.stimuli.select_related("source"))


def study_video_fps(study: Study) -> float | None:
    """The highest frame rate of the study's videos, frames per second (None: no stimulus)."""
    rates = [float(s.source.fps) for s in study.stimuli.select_related("source")]
    return max(rates, default=None)


def participants_needed(study: Study) -> int:
    """Participants who give every PVS ``votes_per_pvs`` votes (each rates
    ``trials_per_participant`` PVSs and every hidden reference)."""
    n_rated = _rated_count(study)
    per_participant = study.trials_per_participant or n_rated
    return -(-n_rated * study.votes_per_pvs // per_participant)


# Methods whose votes compare two videos and are scaled as pairs (DCR pairs are analysed as their PVS).
PAIR_SCALED_METHODS = ("ccr", "pc")


class UnknownDimensionError(ValueError):
    """A rating dimension the study does not ask."""


def dimension_keys(study: Study) -> list[str]:
    """The keys of the dimensions ``study`` asks (``Study.dimensions``), the primary first."""
    return [d["key"] for d in study.dimensions]


def resolve_dimension(study: Study, dimension: str | None) -> str:
    """``dimension``, or the study's primary (first) dimension when None or empty.

    Raises ``UnknownDimensionError`` naming the study's dimensions when the study does not ask it.
    """
    keys = dimension_keys(study)
    if not dimension:
        return keys[0]
    if dimension not in keys:
        raise UnknownDimensionError(f"study {study.name!r} does not ask dimension {dimension!r}; "
                                    f"it asks {', '.join(keys)}")
    return dimension


def _votes(study: Study, role: str, include_simulated: bool, *, analysis: bool = False):
    """Votes on stimuli of ``role``; ``analysis`` leaves out the second showings of repeated
    stimuli (``Trial.repeat`` 1: they measure a participant's consistency, they are not data)."""
    votes = Vote.objects.filter(trial__participant__study=study, trial__stimulus__role=role)
    if not include_simulated:
        votes = votes.filter(trial__participant__is_simulated=False)
    if analysis:
        votes = votes.filter(trial__repeat=0)
    return votes.select_related("trial__participant", "trial__stimulus__source", "trial__stimulus__pvs__hrc",
                                "trial__stimulus__companion_pvs__hrc").order_by("pk")


def vote_answers(vote: Vote, study: Study) -> dict[str, int]:
    """Every dimension's answer of ``vote`` by key, in the pair's canonical orientation
    (``RatingMethod.canonical_score``: CCR −3..+3 of B against A, PC 1 = A chosen, 2 = B);
    the primary dimension from ``Vote.score``. A dimension the vote did not answer is left out."""
    method = get_method(study.method)
    keys = dimension_keys(study)
    answers = {**{key: value for key, value in (vote.scores or {}).items() if key in keys}, keys[0]: vote.score}
    return {key: method.canonical_score(int(answers[key]), vote.trial.swapped) for key in keys if key in answers}


def votes_frame(study: Study, *, include_simulated: bool = True, dimension: str | None = None,
                all_dimensions: bool = False, include_repeats: bool = False) -> pd.DataFrame:
    """The study's test votes on one dimension in long format, one row per vote (single-stimulus analysis).

    For ACR-HR the stimulus is the video rated; for DCR it is the pair's A (the
    PVS; ``is_reference`` 1 for the reference shown against itself), rated on the
    5-point impairment scale. ``dimension``: a key of ``Study.dimensions``
    (default the primary one, ``Vote.score``); votes that did not answer it are
    left out. ``all_dimensions`` adds a column ``vote_<key>`` per dimension (NaN
    where not answered; for exports).

    Columns: ``subject`` (anonymous id), ``stimulus`` (``SRC/HRC`` or
    ``SRC/REF``), ``reference`` (SRC name), ``vote`` (1..5), ``repetition``
    (``Trial.repeat``: 0, or 1 for a consistency repeat), ``is_reference``
    (1 for a hidden reference), ``hrc`` (label, ``REF`` for a hidden
    reference), ``simulated``, ``pvs_id`` (None for references),
    ``watch_seconds``, ``stall_count``, ``stall_seconds``, ``replays``,
    ``video_seconds`` (one showing's playback, s: ``playback_seconds``), ``voted_at``. Training and
    trap votes are not included; consistency repeats only with
    ``include_repeats`` (they are for screening, never for the MOS). Raises ``UnknownDimensionError`` for a
    dimension the study does not ask, and ``ValueError`` for a CCR or PC study
    (their votes are pairs: ``pair_votes_frame``).
    """
    if study.method in PAIR_SCALED_METHODS:
        raise ValueError(f"study {study.name!r} uses {study.method}: its votes are pairs, read pair_votes_frame")
    key = resolve_dimension(study, dimension)
    keys = dimension_keys(study)
    rows = []
    for v in _votes(study, StimulusRole.TEST, include_simulated, analysis=not include_repeats):
        answers = vote_answers(v, study)
        if key not in answers:
            continue
        row = {
            "subject": v.trial.participant.anonymous_id,
            "stimulus": v.trial.stimulus.label,
            "reference": v.trial.stimulus.source.name,
            "vote": answers[key],
            "repetition": v.trial.repeat,
            "is_reference": int(v.trial.stimulus.is_reference),
            "hrc": v.trial.stimulus.pvs.hrc.label if v.trial.stimulus.pvs_id else "REF",
            "simulated": v.trial.participant.is_simulated,
            "pvs_id": v.trial.stimulus.pvs_id,
            "watch_seconds": v.watch_seconds,
            "stall_count": v.stall_count,
            "stall_seconds": v.stall_seconds,
            "replays": v.replays,
            "video_seconds": playback_seconds(study, v.trial.stimulus),
            "voted_at": v.created_at.isoformat(),
        }
        if all_dimensions:
            row.update({f"vote_{k}": answers.get(k) for k in keys})
        rows.append(row)
    return pd.DataFrame(rows, columns=VOTE_COLUMNS + ([f"vote_{k}" for k in keys] if all_dimensions else []))


PAIR_VOTE_COLUMNS = [
    "subject", "stimulus_a", "stimulus_b", "reference", "hrc_a", "hrc_b", "pvs_id_a", "pvs_id_b", "swapped",
    "simulated", "watch_seconds", "stall_count", "stall_seconds", "replays", "video_seconds", "repetition",
    "voted_at",
]


def pair_votes_frame(study: Study, *, include_simulated: bool = True, dimension: str | None = None,
                     all_dimensions: bool = False, include_repeats: bool = False) -> pd.DataFrame:
    """A CCR or PC study's test votes on one dimension, one row per vote, in the pair's canonical orientation.

    A is the stimulus's PVS (``SRC/REF`` when null: the SRC), B its companion;
    ``swapped`` says B was shown first, the vote is already turned back
    (``studies.methods.RatingMethod.canonical_score``). CCR: ``vote`` is B rated
    against A, −3 (much worse) .. +3 (much better). PC: ``preferred`` is the label
    of the stimulus chosen (``stimulus_a`` or ``stimulus_b``) and ``vote`` 1 (A) or 2 (B).

    Columns: ``subject``, ``stimulus_a``, ``stimulus_b``, ``vote``, [``preferred``,]
    ``reference`` (SRC name), ``hrc_a``, ``hrc_b`` (``REF`` for the SRC), ``pvs_id_a``,
    ``pvs_id_b`` (None for the SRC), ``swapped``, ``simulated``, ``watch_seconds``,
    ``stall_count``, ``stall_seconds``, ``replays``, ``video_seconds`` (one showing's
    playback, s), ``repetition`` (``Trial.repeat``), ``voted_at``; with
    ``all_dimensions`` one ``vote_<key>`` per dimension (canonical, NaN where not
    answered). Training and trap trials are not included; consistency repeats
    only with ``include_repeats`` (for screening). Raises
    ``UnknownDimensionError`` for a dimension the study does not ask and
    ``ValueError`` for a study whose method is not CCR or PC.
    """
    if study.method not in PAIR_SCALED_METHODS:
        raise ValueError(f"study {study.name!r} uses {study.method}: its votes are single stimuli, read votes_frame")
    key = resolve_dimension(study, dimension)
    keys = dimension_keys(study)
    pc = study.method == "pc"
    rows = []
    for v in _votes(study, StimulusRole.TEST, include_simulated, analysis=not include_repeats):
        answers = vote_answers(v, study)
        if key not in answers:
            continue
        stimulus = v.trial.stimulus
        row = {
            "subject": v.trial.participant.anonymous_id, "stimulus_a": stimulus.label,
            "stimulus_b": stimulus.companion_label, "vote": answers[key], "reference": stimulus.source.name,
            "hrc_a": stimulus.pvs.hrc.label if stimulus.pvs_id else "REF",
            "hrc_b": stimulus.companion_pvs.hrc.label if stimulus.companion_pvs_id else "REF",
            "pvs_id_a": stimulus.pvs_id, "pvs_id_b": stimulus.companion_pvs_id, "swapped": v.trial.swapped,
            "simulated": v.trial.participant.is_simulated, "watch_seconds": v.watch_seconds,
            "stall_count": v.stall_count, "stall_seconds": v.stall_seconds, "replays": v.replays,
            "video_seconds": playback_seconds(study, stimulus), "repetition": v.trial.repeat,
            "voted_at": v.created_at.isoformat(),
        }
        if pc:
            row["preferred"] = stimulus.label if answers[key] == FIRST else stimulus.companion_label
        if all_dimensions:
            row.update({f"vote_{k}": answers.get(k) for k in keys})
        rows.append(row)
    columns = PAIR_VOTE_COLUMNS[:3] + ["vote"] + (["preferred"] if pc else []) + PAIR_VOTE_COLUMNS[3:]
    return pd.DataFrame(rows, columns=columns + ([f"vote_{k}" for k in keys] if all_dimensions else []))


def gold_failures(study: Study, *, include_simulated: bool = True) -> dict[str, list[str]]:
    """Per participant (anonymous id), the gold trials they failed, as sentences.

    A gold trial's answer on the primary dimension, in the pair's canonical
    orientation, is checked against ``Stimulus.expected_scores``.
    """
    failures: dict[str, list[str]] = {}
    method = get_method(study.method)
    for role in (StimulusRole.TEST, StimulusRole.TRAP):
        for vote in _votes(study, role, include_simulated):
            stimulus = vote.trial.stimulus
            answer = method.canonical_score(vote.score, vote.trial.swapped)  # expected scores are in the pair's order
            if stimulus.expected_scores and answer not in stimulus.expected_scores:
                failures.setdefault(vote.trial.participant.anonymous_id, []).append(
                    f"{stimulus.label} answered {answer}, expected {'/'.join(map(str, stimulus.expected_scores))}"
                )
    return failures


def gold_rejections(study: Study, *, include_simulated: bool = True) -> dict[str, str]:
    """Participants rejected for failing more gold trials than ``study.gold_max_failures``, with why."""
    return gold_flags(gold_failures(study, include_simulated=include_simulated), max_failures=study.gold_max_failures)


def study_questionnaire(study: Study) -> list[dict]:
    """The questionnaire answers of the study's participants in aggregate: per question of the
    study's questionnaire, the count of each answer (``studies.qualification.questionnaire_counts``);
    a crowd id counts once however many of its participations there are. No per-person rows."""
    answered = Qualification.objects.filter(participants__study=study).distinct().values_list(
        "questionnaire", flat=True)
    return questionnaire_counts(study.questionnaire or [], list(answered))


@dataclass(frozen=True)
class StudyCounts:
    participants: int
    simulated: int
    completed: int
    votes: int
    test_stimuli: int
    votes_needed: int
    min_votes: int


def study_counts(study: Study) -> StudyCounts:
    """Participants, votes and how far the least-rated test stimulus is from its target (consistency
    repeats not counted: they give no MOS vote)."""
    participants = study.participants.aggregate(
        total=Count("pk"), simulated=Count("pk", filter=Q(is_simulated=True)),
        completed=Count("pk", filter=Q(completed_at__isnull=False)),
    )
    per_stimulus = (
        Stimulus.objects.filter(study=study, role=StimulusRole.TEST)
        .annotate(n=Count("trials__vote", filter=Q(trials__repeat=0))).values_list("n", flat=True)
    )
    per_stimulus = list(per_stimulus)
    return StudyCounts(
        participants=participants["total"], simulated=participants["simulated"],
        completed=participants["completed"], votes=sum(per_stimulus), test_stimuli=len(per_stimulus),
        votes_needed=study.votes_per_pvs * len(per_stimulus), min_votes=min(per_stimulus, default=0),
    )


PVS_FILTER_FIELDS = {"codec": "hrc__codec__in", "src": "source__name__in", "hrc": "hrc__label__in",
                     "id": "pk__in"}


class PvsFilterError(ValueError):
    """A --pvs filter that cannot be read."""


def pvs_matching(spec: str):
    """PVSs selected by ``spec``: ``all``, or ``key=v1,v2`` clauses joined by
    ``;`` with keys codec, src, hrc (label) and id, e.g. ``codec=x265,landmark-warp;src=lp_d20``."""
    queryset = Pvs.objects.select_related("source", "hrc")
    if spec.strip() == "all":
        return queryset
    for clause in filter(None, (c.strip() for c in spec.split(";"))):
        key, _, values = clause.partition("=")
        if key.strip() not in PVS_FILTER_FIELDS or not values:
            raise PvsFilterError(f"cannot read {clause!r}: use all, or key=v1,v2 with key one of "
                                 f"{', '.join(PVS_FILTER_FIELDS)}, clauses joined by ;")
        queryset = queryset.filter(**{PVS_FILTER_FIELDS[key.strip()]: [v.strip() for v in values.split(",")]})
    return queryset
