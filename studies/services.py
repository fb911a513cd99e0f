"""Services that change study state: create a study, let a participant join,
record consent, viewing conditions and votes.

Views, commands and tasks call these and nothing else. Every vote is
committed by ``vote_submit`` before the next trial can be served; a vote
posted twice is stored once.
"""
import itertools
import secrets
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
from django.core.exceptions import ValidationError
from django.core.validators import validate_slug
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.crypto import salted_hmac

from metrics.models import MetricResult, MetricStatus
from metrics.registry import get_metric
from qa_platform.core.models import JobStatus, Pvs
from studies.active_sampling import check_counts, information_gain_full
from studies.analysis_store import analyses_schedule
from studies.assignment import (
    AssignmentError,
    add_repeats,
    draw_balanced,
    insert_at_random,
    order_without_repeats,
)
from studies import design
from studies.crowd_ids import crowd_id_hash
from studies.dimensions import DimensionError, parse_dimensions
from studies.methods import FIRST, SECOND, get_method
from studies.models import (
    BlockedCrowdId,
    Method,
    PairDesign,
    Presentation,
    Participant,
    Platform,
    Qualification,
    Stimulus,
    StimulusRole,
    Study,
    Trial,
    Vote,
)
from studies.qualification import QualificationError, acuity_key, acuity_score, questionnaire_answers
from studies.selectors import next_trial, study_video_fps, study_video_size
from studies.simulation import (
    Observer,
    ObserverModel,
    draw_observer,
    latent_quality,
    simulate_ccr_vote,
    simulate_dcr_vote,
    simulate_pair_choice,
    simulate_vote,
)
from studies.viewing import device_class, viewing_problems

ABANDONED_AFTER = timedelta(hours=2)


class StudyError(ValueError):
    """The study cannot be created or changed as asked."""


class TrialNotFound(LookupError):
    """The trial is not in this participant's playlist."""


def _rated_pvs(pvs: Iterable[Pvs]) -> list[Pvs]:
    chosen = [p for p in pvs if p.status == JobStatus.DONE and p.browser_path]
    if not chosen:
        raise StudyError("no finished PVS matches: build the database first (manage.py build_database)")
    return chosen


def _check_name(name: str) -> None:
    try:
        validate_slug(name)
    except ValidationError as error:
        raise StudyError(f"study name {name!r}: use letters, digits, '-' and '_' only") from error
    if Study.objects.filter(name=name).exists():
        raise StudyError(f"a study named {name!r} exists already")


def study_create(*, name: str, pvs: Iterable[Pvs], method: str = Method.ACR_HR, votes_per_pvs: int = 15,
                 trials_per_participant: int | None = None, training: Sequence[Pvs] | None = None,
                 training_count: int = 3, trap: bool = True, replays_allowed: int = 0,
                 completion_url: str = "", seed: int | None = None, max_participants: int | None = None,
                 dimensions: str | None = None, presentation: str = Presentation.SEQUENTIAL, gap_ms: int = 1000,
                 pair_set: str | None = None, pair_design: str = PairDesign.ACTIVE, consistency_repeats: int = 0,
                 qualification_required: bool = True, allow_phones: bool = False,
                 screening_excludes: bool = False) -> Study:
    """Create a study of ``method`` (``studies.methods``) over the finished PVSs in ``pvs``.

    Test stimuli follow the method (``studies.design``): ACR-HR shows the
    PVSs and each SRC as hidden reference, DCR pairs each with its SRC, CCR and
    PC show pairs of ``pair_set`` (``reference``, ``same-rate``, ``all``).
    Every participant rates every hidden reference (so that each of their
    votes has a DMOS) and ``trials_per_participant`` other test stimuli
    (default: all; PC with ``pair_design=active`` chooses each pair when it is
    due). ``training`` PVSs (default: ``training_count`` stimuli of one SRC
    spread over its quality range) are shown first and excluded from
    analysis. With ``trap``, a trapping clip is rendered from a SRC.
    ``dimensions``: what each trial asks (``studies.dimensions.parse_dimensions``);
    ``presentation`` and ``gap_ms`` (mid-grey between the two videos) apply
    to paired methods. ``max_participants`` caps the people who may join.
    Crowd quality control: ``consistency_repeats`` test stimuli shown twice
    per participant, ``qualification_required`` (crowd participants take the
    acuity test and questionnaire once), ``allow_phones``,
    ``screening_excludes`` (the screening rules' flags also exclude).
    Raises ``StudyError`` when the name is taken or not a slug, no PVS is
    finished, a dimension or pair set is unknown, or the sizes are impossible.
    """
    _check_name(name)
    _check_design(method, pair_design, trials_per_participant, consistency_repeats)
    rating = get_method(method)
    chosen = _rated_pvs(pvs)
    training = _rated_pvs(training) if training is not None else None
    sources = sorted({p.source for p in chosen}, key=lambda s: s.name)
    seed = secrets.randbits(32) if seed is None else seed
    rng = np.random.default_rng(seed)
    trap_source = sources[rng.integers(len(sources))] if trap else None
    try:
        with transaction.atomic():
            study = Study.objects.create(
                name=name, method=method, votes_per_pvs=votes_per_pvs, trials_per_participant=trials_per_participant,
                seed=seed, replays_allowed=replays_allowed, trap_enabled=trap,
                completion_url=completion_url, completion_code=secrets.token_hex(4).upper(),
                max_participants=max_participants, dimensions=parse_dimensions(dimensions),
                presentation=presentation, gap_ms=gap_ms, pair_design=pair_design,
                consistency_repeats=consistency_repeats, qualification_required=qualification_required,
                allow_phones=allow_phones, screening_excludes=screening_excludes,
            )
            test = design.test_stimuli(study, rating, chosen, pair_set)
            _check_trials(study, test)
            Stimulus.objects.bulk_create(
                test + (design.chosen_training(study, rating, training) if training is not None
                        else design.training_stimuli(study, rating, chosen, training_count, rng))
                + ([design.trap_stimulus(study, rating, trap_source)] if trap_source is not None else [])
            )
    except (design.DesignError, DimensionError) as error:
        raise StudyError(str(error)) from error
    return study


def _check_design(method: str, pair_design: str, trials_per_participant: int | None, repeats: int) -> None:
    if method != Method.PC:
        return
    if pair_design == PairDesign.FULL and trials_per_participant is not None:
        raise StudyError("--pair-design full gives every participant every pair: leave --trials-per-participant "
                         "out, or choose --pair-design random")
    if pair_design == PairDesign.ACTIVE and repeats:
        raise StudyError("consistency repeats need the playlist drawn at join; active sampling chooses each "
                         "pair when due: choose --pair-design random or full, or no repeats")


def _check_trials(study: Study, test: list[Stimulus]) -> None:
    rated = sum(1 for s in test if not s.is_reference)
    if study.trials_per_participant is not None and not 1 <= study.trials_per_participant <= rated:
        raise StudyError(f"--trials-per-participant must be 1..{rated} (the test stimuli besides hidden "
                         f"references), not {study.trials_per_participant}")


def _lazy(study: Study) -> bool:
    """Whether test trials are chosen when due (PC with active sampling) rather than at join."""
    return study.method == Method.PC and study.pair_design == PairDesign.ACTIVE


def _playlist(study: Study, rng: np.random.Generator) -> list[tuple[int, Stimulus, bool]]:
    """(position, stimulus, swapped): training first, then the drawn test stimuli,
    every hidden reference and the trap, in random order. CCR and PC pairs get
    their order drawn (``swapped``: B first). Active PC draws only its first
    pair now (the others when due, ``_active_next``) and keeps the trap's place
    among the pairs to come."""
    stimuli = {s.pk: s for s in study.stimuli.select_related("source", "pvs", "companion_pvs")}
    test = {pk: s for pk, s in stimuli.items() if s.role == StimulusRole.TEST}
    rated = [pk for pk, s in test.items() if not s.is_reference]
    training = [s for s in stimuli.values() if s.role == StimulusRole.TRAINING]
    traps = [pk for pk, s in stimuli.items() if s.role == StimulusRole.TRAP]
    previous = training[-1].source_id if training else None
    k = study.trials_per_participant or len(rated)
    method = get_method(study.method)
    drawn_order = method.paired and not method.reference_first
    if _lazy(study):
        first = _active_pair(study, rng, previous)
        swapped = drawn_order and rng.random() < 0.5
        planned = [(len(training), first, swapped)]
        planned += [(len(training) + int(rng.integers(1, k + 1)), stimuli[pk], bool(rng.random() < 0.5))
                    for pk in traps[:1]]
        return [(i, s, False) for i, s in enumerate(training)] + planned
    # A participation that neither finished nor started recently was abandoned:
    # its trials will bring no votes, so they do not count towards the balance.
    live = (Q(participant__completed_at__isnull=False)
            | Q(participant__created_at__gte=timezone.now() - ABANDONED_AFTER))
    taken = Counter(Trial.objects.filter(live, stimulus__in=rated, repeat=0).values_list("stimulus_id", flat=True))
    drawn = draw_balanced({pk: taken[pk] for pk in rated}, k, rng) + [pk for pk in test if test[pk].is_reference]
    order = order_without_repeats([(pk, test[pk].source_id) for pk in drawn], rng, previous)
    order = _with_repeats(study, test, drawn, order, rng, previous)
    for pk in traps:
        order = insert_at_random(order, pk, {i: stimuli[i].source_id for i in stimuli}, rng, previous)
    playlist = training + [stimuli[pk] for pk in order]
    # One order per stimulus: a consistency repeat is shown as its first showing was.
    swapped = {s.pk: bool(drawn_order and s.role != StimulusRole.TRAINING and rng.random() < 0.5) for s in playlist}
    return [(i, s, swapped[s.pk]) for i, s in enumerate(playlist)]


def _pair_wins(members: list[Stimulus], items: list) -> np.ndarray:
    """wins[i, j]: how often ``items[i]`` was chosen over ``items[j]`` in the answered trials
    of the pair stimuli ``members`` (primary dimension, first showings only)."""
    index = {key: i for i, key in enumerate(items)}
    pc = get_method(Method.PC)
    wins = np.zeros((len(items), len(items)), dtype=np.int64)
    for stimulus_id, a, b, score, swapped in Vote.objects.filter(trial__stimulus__in=members, trial__repeat=0).values_list(
            "trial__stimulus_id", "trial__stimulus__pvs_id", "trial__stimulus__companion_pvs_id", "score",
            "trial__swapped"):
        winner, loser = (a, b) if pc.canonical_score(score, swapped) == FIRST else (b, a)
        wins[index[winner], index[loser]] += 1
    return wins


def _active_pair(study: Study, rng: np.random.Generator, previous, seen: set[int] = frozenset()) -> Stimulus:
    """The next pair for a PC participant under active sampling, not one of ``seen`` (stimulus
    ids the participant has): the SRC with the fewest comparisons given or pending (not the SRC
    just shown, when another is left), then the pair of that SRC of most expected information
    (``studies.active_sampling``: full ASAP's expected information gain under a Thurstone Case V
    posterior from every participant's answers)."""
    pairs = list(study.stimuli.filter(role=StimulusRole.TEST, is_pair=True))
    left = [p for p in pairs if p.pk not in seen]
    load = Counter(Trial.objects.filter(stimulus__in=pairs).values_list("stimulus__source_id", flat=True))
    sources = sorted({p.source_id for p in left})
    candidates = [s for s in sources if s != previous] or sources
    fewest = min(load[s] for s in candidates)
    least_loaded = [s for s in candidates if load[s] == fewest]
    source = least_loaded[rng.integers(len(least_loaded))]
    members = [p for p in pairs if p.source_id == source]
    items = sorted({key for p in members for key in (p.pvs_id, p.companion_pvs_id)}, key=lambda k: (k is not None, k or 0))
    index = {key: i for i, key in enumerate(items)}
    gain, _ = information_gain_full(check_counts(_pair_wins(members, items)))
    offered = {p: gain[index[p.pvs_id], index[p.companion_pvs_id]] for p in members if p.pk not in seen}
    best = max(offered.values())
    ties = [p for p, value in offered.items() if value >= best - 1e-12 * max(1.0, abs(best))]
    return ties[rng.integers(len(ties))]


def _active_next(participant: Participant, trials: list[Trial], answered: Trial) -> bool:
    """After ``answered``, add the participant's next active-sampling pair when none is
    waiting and fewer than the study's number were given; return whether one was added."""
    study = participant.study
    test = [t for t in trials if t.stimulus.role == StimulusRole.TEST]
    wanted = study.trials_per_participant or sum(1 for s in study.stimuli.all() if s.role == StimulusRole.TEST)
    waiting = any(not hasattr(t, "vote") and t.pk != answered.pk for t in test)
    if waiting or len(test) >= wanted:
        return False
    taken = {t.position for t in trials}
    position = next(p for p in itertools.count(answered.position + 1) if p not in taken)
    rng = np.random.default_rng([participant.assignment_seed, len(test)])
    stimulus = _active_pair(study, rng, answered.stimulus.source_id, {t.stimulus_id for t in trials})
    Trial.objects.create(participant=participant, stimulus=stimulus, position=position,
                         swapped=bool(rng.random() < 0.5))
    return True


def _with_repeats(study: Study, test: dict[int, Stimulus], drawn: list[int], order: list[int],
                  rng: np.random.Generator, previous) -> list[int]:
    """``order`` with ``study.consistency_repeats`` of its drawn PVSs (never a hidden reference) shown a
    second time, never next to their first showing (``studies.assignment.add_repeats``)."""
    candidates = [pk for pk in drawn if not test[pk].is_reference]
    return add_repeats(order, candidates, study.consistency_repeats, {pk: s.source_id for pk, s in test.items()},
                       rng, previous)


def participant_join(*, study: Study, platform: str = Platform.LAB, external_id: str | None = None,
                     external_study_id: str = "", external_session_id: str = "", submit_to: str = "",
                     assignment_seed: int | None = None) -> tuple[Participant, bool]:
    """Return ``(participant, created)``: the existing participation of
    ``external_id`` (one per external id and study), or a new participant with
    a stored playlist drawn with ``assignment_seed`` (default: fresh, derived
    from the study's seed) and stored with it. ``submit_to``: MTurk's server for
    the finished HIT, an origin the caller checked (``studies.crowd``). Raises
    ``StudyError`` when the study is closed or a new person would pass
    ``study.max_participants``, and ``CrowdIdBlocked`` for a crowd id on the block list."""
    if crowd_id_blocked(platform=platform, external_id=external_id):
        raise CrowdIdBlocked("you cannot take part in this study")
    if external_id:
        existing = Participant.objects.filter(study=study, platform=platform, external_id=external_id).first()
        if existing is not None:
            return existing, False
    if not study.is_open:
        raise StudyError(f"the study {study.name!r} is closed")
    if assignment_seed is None:
        assignment_seed = int(np.random.SeedSequence([study.seed, secrets.randbits(32)]).generate_state(1)[0])
    try:
        with transaction.atomic():
            _check_room(study, platform)
            participant = Participant.objects.create(
                study=study, platform=platform, external_id=external_id or None,
                external_study_id=external_study_id, external_session_id=external_session_id, submit_to=submit_to,
                is_simulated=platform == Platform.SIMULATED, assignment_seed=assignment_seed,
            )
            playlist = _playlist(study, np.random.default_rng(assignment_seed))
            Trial.objects.bulk_create(
                Trial(participant=participant, stimulus=s, position=i, swapped=swapped, repeat=r)
                for (i, s, swapped), r in zip(playlist, _repeat_numbers([s for _, s, _ in playlist]))
            )
    except IntegrityError:  # the same external id joined at the same moment
        return Participant.objects.get(study=study, platform=platform, external_id=external_id), False
    except AssignmentError as error:
        raise StudyError(str(error)) from error
    return participant, True


def _repeat_numbers(playlist: Sequence[Stimulus]) -> list[int]:
    """Per trial, 0 for a stimulus's first showing in the playlist and 1 for its repeat."""
    seen: set[int] = set()
    numbers = []
    for stimulus in playlist:
        numbers.append(int(stimulus.pk in seen))
        seen.add(stimulus.pk)
    return numbers


def participant_record_assignment(*, participant: Participant, external_session_id: str,
                                  submit_to: str = "") -> Participant:
    """Keep a resuming crowd participant's session id and submit server current (those given, when
    they changed): an MTurk worker who returned the HIT and accepted it again works under a new
    assignment id, and the finished HIT must be submitted under that one."""
    changed = {name: value for name, value in (("external_session_id", external_session_id), ("submit_to", submit_to))
               if value and getattr(participant, name) != value}
    if changed:
        for name, value in changed.items():
            setattr(participant, name, value)
        participant.save(update_fields=list(changed))
    return participant


def participants_purge_external_ids(*, study: Study) -> int:
    """Delete the crowd-platform ids (participant, study and session ids) of every participant of
    ``study``, once they are paid; the anonymous ids, votes and screening stay. Returns how many
    participants had one. A purged participant can no longer resume from the platform's link."""
    with_ids = study.participants.exclude(external_id=None, external_study_id="", external_session_id="")
    return with_ids.update(external_id=None, external_study_id="", external_session_id="")


def _check_room(study: Study, platform: str) -> None:
    """Raise ``StudyError`` when one more person would pass the study's cap (the study row locked,
    so two joins at once cannot both take the last place; joins to a study without a cap lock nothing)."""
    if platform == Platform.SIMULATED or study.max_participants is None:
        return
    cap = Study.objects.select_for_update().values_list("max_participants", flat=True).get(pk=study.pk)
    joined = study.participants.filter(is_simulated=False).count()
    if joined >= cap:
        raise StudyError(f"the study {study.name!r} is full: {joined} of {cap} people took part")


def participant_consent(*, participant: Participant) -> Participant:
    """Record consent (first time only)."""
    if participant.consented_at is None:
        participant.consented_at = timezone.now()
        participant.save(update_fields=["consented_at"])
    return participant


class CrowdIdBlocked(StudyError):
    """The crowd id is on the block list; the message tells the participant nothing more."""


CROWD_PLATFORMS = (Platform.PROLIFIC, Platform.MTURK)


def crowd_id_blocked(*, platform: str, external_id: str | None) -> bool:
    """Whether this crowd id is on the block list (False for lab and simulated participants)."""
    if platform not in CROWD_PLATFORMS or not external_id:
        return False
    return BlockedCrowdId.objects.filter(platform=platform, id_hash=crowd_id_hash(platform, external_id)).exists()


def participant_block(*, participant: Participant, reason: str) -> BlockedCrowdId:
    """Put the participant's crowd id on the block list (its hash, ``studies.crowd_ids``), for every
    study; blocking twice keeps the first row. Raises ``StudyError`` for a participant without a
    crowd id (lab, simulated, or purged after payment) or an empty reason."""
    if participant.platform not in CROWD_PLATFORMS or not participant.external_id:
        raise StudyError(f"{participant.anonymous_id} has no crowd id to block (lab, simulated, or purged)")
    if not reason.strip():
        raise StudyError("say why the participant is blocked (--reason)")
    row, _ = BlockedCrowdId.objects.get_or_create(
        platform=participant.platform, id_hash=crowd_id_hash(participant.platform, participant.external_id),
        defaults={"reason": reason.strip()})
    return row


def qualification_due(participant: Participant) -> bool:
    """Whether the participant must take the qualification now: a crowd participant of a study that
    requires it, whose crowd id has none yet. Links the crowd id's existing qualification (taken in
    another study) to the participant on the way."""
    if (not participant.study.qualification_required or participant.platform not in CROWD_PLATFORMS
            or not participant.external_id):
        return False
    if participant.qualification_id is None:
        found = Qualification.objects.filter(
            platform=participant.platform,
            id_hash=crowd_id_hash(participant.platform, participant.external_id)).first()
        if found is None:
            return True
        participant.qualification = found
        participant.save(update_fields=["qualification"])
    return False


def qualification_failed(participant: Participant) -> bool:
    """Whether the participant's crowd id took the qualification and did not pass (it may not go on)."""
    return (participant.study.qualification_required and participant.qualification is not None
            and not participant.qualification.passed)


def participant_gate(participant: Participant) -> str | None:
    """What stands before the participant's trials: ``blocked`` (crowd id on the block list),
    ``qualification`` (due), ``not-qualified`` (taken and failed), or None."""
    if crowd_id_blocked(platform=participant.platform, external_id=participant.external_id):
        return "blocked"
    if qualification_due(participant):
        return "qualification"
    if qualification_failed(participant):
        return "not-qualified"
    return None


def _acuity_secret() -> bytes:
    return salted_hmac("faceqa.studies.acuity", "key", algorithm="sha256").digest()


def participant_acuity_key(participant: Participant) -> list[dict]:
    """The acuity test's optotypes and answers for this participant (``studies.qualification``); server side only."""
    return acuity_key(_acuity_secret(), str(participant.token))


def qualification_submit(*, participant: Participant, acuity: list, questionnaire: dict,
                         device_pixel_ratio: float | None = None) -> Qualification:
    """Score the acuity answers against the participant's key, check the questionnaire answers
    against the study's questions, and store the crowd id's qualification (once: a crowd id that
    has one gets it back unchanged, so a failed test cannot be retaken under another study).
    Raises ``StudyError`` when no qualification is due or the answers cannot be read."""
    if not qualification_due(participant):
        if participant.qualification is not None:
            return participant.qualification
        raise StudyError("this participation needs no qualification")
    try:
        result = acuity_score(participant_acuity_key(participant), acuity)
        answers = questionnaire_answers(participant.study.questionnaire, questionnaire)
    except QualificationError as error:
        raise StudyError(str(error)) from error
    if device_pixel_ratio is not None:
        result["device_pixel_ratio"] = float(device_pixel_ratio)
    try:
        with transaction.atomic():
            qualification = Qualification.objects.create(
                platform=participant.platform, id_hash=crowd_id_hash(participant.platform, participant.external_id),
                passed=result["passed"], acuity=result, questionnaire=answers)
    except IntegrityError:  # the same crowd id submitted at the same moment
        qualification = Qualification.objects.get(
            platform=participant.platform, id_hash=crowd_id_hash(participant.platform, participant.external_id))
    participant.qualification = qualification
    participant.save(update_fields=["qualification"])
    return qualification


def _zoom_estimate(value) -> float | None:
    """None: not measured (a page in a crowd platform's frame cannot compare its width with the browser window's)."""
    return None if value is None else float(value)


def _refresh_hz(value) -> float | None:
    """None: not measured. A display runs at 1..1000 Hz."""
    if value is None:
        return None
    if isinstance(value, bool) or not 1.0 <= float(value) <= 1000.0:
        raise ValueError(f"refresh_hz {value!r} is not a rate from 1 to 1000 Hz")
    return float(value)


def _flag(value) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{value!r} is not true or false")
    return value


VIEWING_FIELDS = {
    "screen_width": float, "screen_height": float, "window_width": float, "window_height": float,
    "device_pixel_ratio": float, "zoom_estimate": _zoom_estimate, "user_agent": str,
}
# Measured by the viewing page since the display checks; optional (None or false when absent), so a
# client that sends only VIEWING_FIELDS is judged on size and zoom alone. refresh_hz: 1 / the median
# requestAnimationFrame interval over about a second; pointer_coarse: CSS (pointer: coarse).
DISPLAY_FIELDS = {"refresh_hz": _refresh_hz, "pointer_coarse": _flag}


def participant_record_viewing(*, participant: Participant, viewing: dict) -> list[str]:
    """Store the viewing-condition check and return what is wrong with it.

    viewing: screen and window sizes in CSS px, the device pixel ratio, the
    zoom estimate (None when not measured) and the user agent, and ``framed``
    (true when the page ran in a frame, e.g. MTurk's; default false; unknown
    keys are dropped), and the display checks' ``refresh_hz`` (Hz, None: not
    measured) and ``pointer_coarse`` (``DISPLAY_FIELDS``); the device class
    (phone, tablet, desktop) is derived and stored with them. The check
    passes, and ``viewing_checked_at`` is set, only when the window holds the
    study's largest video at native size, the display refreshes at least as
    often as the videos' frame rate, and it is not a phone unless the study
    allows phones (``studies.viewing``). Raises
    ``StudyError`` for a missing or malformed value.
    """
    try:
        cleaned = {key: cast(viewing[key]) for key, cast in VIEWING_FIELDS.items()}
        cleaned["framed"] = viewing.get("framed") is True
        cleaned["refresh_hz"] = _refresh_hz(viewing.get("refresh_hz"))
        cleaned["pointer_coarse"] = _flag(viewing.get("pointer_coarse", False))
        cleaned["device_class"] = device_class(cleaned)
        study = participant.study
        across = 2 if study.method != Method.ACR_HR and study.presentation == Presentation.SIDE_BY_SIDE else 1
        problems = viewing_problems(cleaned, study_video_size(study), video_fps=study_video_fps(study),
                                    allow_phones=study.allow_phones, across=across)
    except (KeyError, TypeError, ValueError, ZeroDivisionError, OverflowError) as error:
        raise StudyError(f"viewing conditions incomplete or malformed: {error!r}") from error
    participant.viewing = cleaned
    participant.viewing_checked_at = None if problems else timezone.now()
    participant.save(update_fields=["viewing", "viewing_checked_at"])
    return problems


def _checked_scores(study: Study, score: int | None, scores: dict | None) -> dict[str, int]:
    """Every dimension's answer, on the method's scale; ``score`` alone answers a one-dimension study."""
    keys = [d["key"] for d in study.dimensions]
    if scores is None:
        if len(keys) != 1:
            raise StudyError(f"this study asks {len(keys)} questions ({', '.join(keys)}): send every answer in 'scores'")
        scores = {keys[0]: score}
    if set(scores) != set(keys):
        raise StudyError(f"answers must be given for {', '.join(keys)}, not for {', '.join(map(str, scores)) or 'none'}")
    allowed = get_method(study.method).values
    for key, value in scores.items():
        if isinstance(value, bool) or value not in allowed:
            raise StudyError(f"the answer for {key} must be one of {sorted(allowed)}, not {value!r}")
    return {key: int(scores[key]) for key in keys}


def vote_submit(*, participant: Participant, position: int, score: int | None = None, scores: dict | None = None,
                watch_seconds: float | None = None, stall_count: int = 0, stall_seconds: float = 0.0,
                replays: int = 0) -> tuple[Vote, bool]:
    """Store the vote for the trial at ``position``; return ``(vote, created)``.

    ``scores``: one answer per study dimension (``Study.dimensions``) by key,
    on the method's scale as answered on the page (``studies.methods``); a
    study of one dimension may send ``score`` alone. A trial answered already
    keeps its first vote, which is returned with ``created=False`` (a double
    click or a retry). Raises ``TrialNotFound`` when ``position`` is not in
    this participant's playlist, and ``StudyError`` for a missing answer, one
    off the method's scale, or a trial that is not the next unanswered one (it
    has not been shown). The participant is marked complete with
    their last vote; the participant's row is locked meanwhile. A new vote schedules the study's analysis job
    (``studies.analysis_store.analyses_schedule``: many votes, one run).
    """
    study = participant.study
    scores = _checked_scores(study, score, scores)
    with transaction.atomic():
        # The participant's row is locked: their votes (a retry racing its original, two tabs) are
        # stored one at a time, so "the next unanswered trial" is read by one request at a time, and
        # the trial found unanswered below is still unanswered when its vote is inserted.
        Participant.objects.select_for_update().filter(pk=participant.pk).values_list("pk").get()
        # The whole playlist in one query (a few dozen rows): the trial, whether it is the next one,
        # and whether it is the last one are read from it.
        trials = list(Trial.objects.filter(participant=participant).select_related("vote", "stimulus")
                      .order_by("position"))
        trial = next((t for t in trials if t.position == position), None)
        if trial is None:
            raise TrialNotFound(f"trial {position} is not in this participant's playlist")
        if hasattr(trial, "vote"):
            return trial.vote, False
        unanswered = [t.position for t in trials if not hasattr(t, "vote")]
        if unanswered[0] != position:
            raise StudyError(f"trial {position} has not been shown yet: the next trial is {unanswered[0]}")
        vote = Vote.objects.create(trial=trial, score=scores[study.dimensions[0]["key"]], scores=scores,
                                   watch_seconds=watch_seconds, stall_count=stall_count,
                                   stall_seconds=stall_seconds, replays=replays)
        added = _lazy(study) and _active_next(participant, trials, trial)
        if len(unanswered) == 1 and not added:
            participant.completed_at = timezone.now()
            participant.save(update_fields=["completed_at"])
        analyses_schedule(study=participant.study)
    return vote, True


def _latent_by_stimulus(study: Study, metric: str, model: ObserverModel) -> dict[int | None, float]:
    """Latent quality by PVS id (None: the SRC itself): PVSs by rank of ``metric``, SRCs at the top."""
    spec = get_metric(metric)
    stimuli = list(study.stimuli.exclude(role=StimulusRole.TRAP))
    pvs_ids = sorted({pk for s in stimuli for pk in (s.pvs_id, s.companion_pvs_id) if pk})
    values = dict(MetricResult.objects.filter(pvs_id__in=pvs_ids, metric=metric, status=MetricStatus.OK)
                  .values_list("pvs_id", "value"))
    missing = [pk for pk in pvs_ids if values.get(pk) is None]
    if missing:
        raise StudyError(f"{len(missing)} PVS(s) have no {metric} value (PVS {missing[:5]}): run "
                         "manage.py compute_metrics, or choose another --latent-metric")
    quality = dict(zip(pvs_ids, latent_quality([values[pk] for pk in pvs_ids],
                                               higher_is_better=spec.higher_is_better, model=model)))
    return {None: model.reference_quality, **quality}


@dataclass(frozen=True)
class SimulationReport:
    participants: list[Participant]
    careless: list[str]
    votes: int


def _simulated_answer(study: Study, trial: Trial, observer: Observer, latent: dict, rng: np.random.Generator) -> int:
    """What ``observer`` answers on ``trial``, as the page records it (``studies.simulation``)."""
    stimulus, method = trial.stimulus, get_method(study.method)
    if stimulus.role == StimulusRole.TRAP and not observer.careless:
        return method.canonical_score(method.trap_score, trial.swapped)
    # A careless observer ignores the latent quality (and the trap has none).
    quality_a = latent[stimulus.pvs_id]
    if not method.paired:
        return simulate_vote(observer, quality_a, rng)
    quality_b = latent[stimulus.companion_pvs_id]
    if method.name == "dcr":
        return simulate_dcr_vote(observer, quality_b, quality_a, rng)
    first, second = (quality_b, quality_a) if trial.swapped else (quality_a, quality_b)
    if method.name == "ccr":
        return simulate_ccr_vote(observer, first, second, rng)
    return FIRST if simulate_pair_choice(observer, first, second, rng) else SECOND


def study_simulate_ratings(*, study: Study, participants: int, seed: int, latent_metric: str = "ms_ssim",
                           careless: int = 0, model: ObserverModel = ObserverModel()) -> SimulationReport:
    """Add ``participants`` simulated observers (``studies.simulation``) who
    complete their playlists, in every method; the last ``careless`` of them
    answer at random. Every dimension gets the observer's answer on the
    latent quality (the simulation has no separate identity or motion quality).

    Each goes through ``participant_join`` and ``vote_submit`` like a person.
    Raises ``StudyError`` when a PVS lacks ``latent_metric`` or the counts are
    impossible.
    """
    if not 0 <= careless <= participants:
        raise StudyError(f"--careless must be 0..{participants}, not {careless}")
    latent = _latent_by_stimulus(study, latent_metric, model)
    keys = [d["key"] for d in study.dimensions]
    rng = np.random.default_rng(seed)
    joined, careless_ids, votes = [], [], 0
    for index in range(participants):
        observer = draw_observer(model, rng, careless=index >= participants - careless)
        participant, _ = participant_join(study=study, platform=Platform.SIMULATED,
                                          assignment_seed=int(rng.integers(2**63)))
        while (trial := next_trial(participant)) is not None:  # active PC adds each pair when it is due
            scores = {key: _simulated_answer(study, trial, observer, latent, rng) for key in keys}
            vote_submit(participant=participant, position=trial.position, scores=scores)
            votes += 1
        joined.append(participant)
        if observer.careless:
            careless_ids.append(participant.anonymous_id)
    return SimulationReport(participants=joined, careless=careless_ids, votes=votes)
