"""Services that change study state: create a study, let a participant join,
record consent, viewing conditions and votes.

Views, commands and tasks call these and nothing else. Every vote is
committed by ``vote_submit`` before the next trial can be served; a vote
posted twice is stored once.
"""
import secrets
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_slug
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.crypto import salted_hmac

from metrics.models import MetricResult, MetricStatus
from metrics.registry import get_metric
from qa_platform.codec import video
from qa_platform.core.models import JobStatus, Pvs, Source
from studies.analysis_store import analyses_schedule
from studies.assignment import (
    AssignmentError,
    add_repeats,
    draw_balanced,
    insert_at_random,
    order_without_repeats,
)
from studies.crowd_ids import crowd_id_hash
from studies.methods import get_method
from studies.models import (
    AcrScore,
    BlockedCrowdId,
    Method,
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
from studies.selectors import study_video_fps, study_video_size
from studies.simulation import (
    ObserverModel,
    draw_observer,
    latent_quality,
    simulate_vote,
)
from studies.trap import TRAP_SCORE, render_instruction
from studies.viewing import device_class, viewing_problems

ABANDONED_AFTER = timedelta(hours=2)
# A careful viewer rates a pristine SRC Good or Excellent (gold trial).
REFERENCE_EXPECTED = [AcrScore.GOOD.value, AcrScore.EXCELLENT.value]


class StudyError(ValueError):
    """The study cannot be created or changed as asked."""


class TrialNotFound(LookupError):
    """The trial is not in this participant's playlist."""


def _rated_pvs(pvs: Iterable[Pvs]) -> list[Pvs]:
    chosen = [p for p in pvs if p.status == JobStatus.DONE and p.browser_path]
    if not chosen:
        raise StudyError("no finished PVS matches: build the database first (manage.py build_database)")
    return chosen


def _training_stimuli(study: Study, pvs: list[Pvs], count: int, rng: np.random.Generator) -> list[Stimulus]:
    """``count`` training stimuli from one SRC spread over its quality range:
    the SRC itself, then its PVSs from the highest bitrate to the lowest."""
    sources = sorted({p.source for p in pvs}, key=lambda s: s.name)
    source = sources[rng.integers(len(sources))]
    ladder = [None] + sorted((p for p in pvs if p.source == source), key=lambda p: -(p.kbps or 0.0))
    picks = np.unique(np.rint(np.linspace(0, len(ladder) - 1, min(count, len(ladder)))).astype(int))
    return [_training_stimulus(study, source, ladder[i]) for i in picks]


def _training_stimulus(study: Study, source: Source, pvs: Pvs | None) -> Stimulus:
    return Stimulus(study=study, role=StimulusRole.TRAINING, source=source, pvs=pvs,
                    media_path=pvs.browser_path if pvs else source.browser_path)


def _trap_media(study: Study, source: Source) -> str:
    """Render the trapping clip for ``source``; return its path relative to DATA_DIR."""
    frames, fps = video.read_frames(Path(settings.DATA_DIR) / source.lossless_path)
    relative = f"studies/{study.name}/trap-{source.name}.mp4"
    video.write_browser_copy(Path(settings.DATA_DIR) / relative, render_instruction(frames), fps)
    return relative


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
                 completion_url: str = "", seed: int | None = None, max_participants: int | None = None) -> Study:
    """Create an ACR-HR study over the finished PVSs in ``pvs``.

    Test stimuli are those PVSs plus each of their SRCs as hidden reference;
    every participant rates every hidden reference (so that each of their
    votes has a DMOS) and ``trials_per_participant`` PVSs (default: all).
    ``training`` PVSs (default: ``training_count`` stimuli of one SRC spread
    over its quality range, the SRC itself first) are shown first and excluded
    from analysis. With ``trap``, a trapping clip is rendered from a SRC.
    ``max_participants`` caps the people who may join (None: no cap).
    Raises ``StudyError`` when the name is taken or not a slug, no PVS is
    finished, or the sizes are impossible.
    """
    _check_name(name)
    chosen = _rated_pvs(pvs)
    training = _rated_pvs(training) if training is not None else None
    sources = sorted({p.source for p in chosen}, key=lambda s: s.name)
    if trials_per_participant is not None and not 1 <= trials_per_participant <= len(chosen):
        raise StudyError(f"--trials-per-participant must be 1..{len(chosen)} (the PVSs), "
                         f"not {trials_per_participant}")
    seed = secrets.randbits(32) if seed is None else seed
    rng = np.random.default_rng(seed)
    trap_source = sources[rng.integers(len(sources))] if trap else None
    with transaction.atomic():
        study = Study.objects.create(
            name=name, method=method, votes_per_pvs=votes_per_pvs, trials_per_participant=trials_per_participant,
            seed=seed, replays_allowed=replays_allowed, trap_enabled=trap,
            completion_url=completion_url, completion_code=secrets.token_hex(4).upper(),
            max_participants=max_participants,
        )
        Stimulus.objects.bulk_create(
            [Stimulus(study=study, role=StimulusRole.TEST, source=s, media_path=s.browser_path,
                      expected_scores=REFERENCE_EXPECTED) for s in sources]
            + [Stimulus(study=study, role=StimulusRole.TEST, source=p.source, pvs=p,
                        media_path=p.browser_path) for p in chosen]
            + ([_training_stimulus(study, p.source, p) for p in training] if training is not None
               else _training_stimuli(study, chosen, training_count, rng))
        )
        if trap_source is not None:
            Stimulus.objects.create(
                study=study, role=StimulusRole.TRAP, source=trap_source,
                media_path=_trap_media(study, trap_source), expected_scores=[TRAP_SCORE],
            )
    return study


def _playlist(study: Study, rng: np.random.Generator) -> list[Stimulus]:
    """Training first, then the drawn PVSs, every hidden reference and the
    trap, in random order."""
    stimuli = {s.pk: s for s in study.stimuli.all()}
    test = {pk: s for pk, s in stimuli.items() if s.role == StimulusRole.TEST}
    pvs = [pk for pk, s in test.items() if not s.is_reference]
    # A participation that neither finished nor started recently was abandoned:
    # its trials will bring no votes, so they do not count towards the balance.
    live = Q(participant__completed_at__isnull=False) | Q(participant__created_at__gte=timezone.now() - ABANDONED_AFTER)
    taken = Counter(Trial.objects.filter(live, stimulus__in=pvs).values_list("stimulus_id", flat=True))
    k = study.trials_per_participant or len(pvs)
    drawn = draw_balanced({pk: taken[pk] for pk in pvs}, k, rng) + [pk for pk in test if test[pk].is_reference]
    training = [s for s in stimuli.values() if s.role == StimulusRole.TRAINING]
    previous = training[-1].source_id if training else None
    order = order_without_repeats([(pk, test[pk].source_id) for pk in drawn], rng, previous)
    order = _with_repeats(study, test, drawn, order, rng, previous)
    for pk in (pk for pk, s in stimuli.items() if s.role == StimulusRole.TRAP):
        order = insert_at_random(order, pk, {i: stimuli[i].source_id for i in stimuli}, rng, previous)
    return training + [stimuli[pk] for pk in order]


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
                Trial(participant=participant, stimulus=s, position=i, repeat=r)
                for i, (s, r) in enumerate(zip(playlist, _repeat_numbers(playlist)))
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
        problems = viewing_problems(cleaned, study_video_size(study), video_fps=study_video_fps(study),
                                    allow_phones=study.allow_phones)
    except (KeyError, TypeError, ValueError, ZeroDivisionError) as error:
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
        trials = list(Trial.objects.filter(participant=participant).select_related("vote").order_by("position"))
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
        if len(unanswered) == 1:
            participant.completed_at = timezone.now()
            participant.save(update_fields=["completed_at"])
        analyses_schedule(study=participant.study)
    return vote, True


def _latent_by_stimulus(study: Study, metric: str, model: ObserverModel) -> dict[int, float]:
    """Latent quality of every stimulus: PVSs by rank of ``metric``, SRCs at the top."""
    spec = get_metric(metric)
    stimuli = list(study.stimuli.exclude(role=StimulusRole.TRAP))
    pvs_ids = sorted({s.pvs_id for s in stimuli if s.pvs_id})
    values = dict(MetricResult.objects.filter(pvs_id__in=pvs_ids, metric=metric, status=MetricStatus.OK)
                  .values_list("pvs_id", "value"))
    missing = [pk for pk in pvs_ids if values.get(pk) is None]
    if missing:
        raise StudyError(f"{len(missing)} PVS(s) have no {metric} value (PVS {missing[:5]}): run "
                         "manage.py compute_metrics, or choose another --latent-metric")
    quality = dict(zip(pvs_ids, latent_quality([values[pk] for pk in pvs_ids],
                                               higher_is_better=spec.higher_is_better, model=model)))
    return {s.pk: quality[s.pvs_id] if s.pvs_id else model.reference_quality for s in stimuli}


@dataclass(frozen=True)
class SimulationReport:
    participants: list[Participant]
    careless: list[str]
    votes: int


def study_simulate_ratings(*, study: Study, participants: int, seed: int, latent_metric: str = "ms_ssim",
                           careless: int = 0, model: ObserverModel = ObserverModel()) -> SimulationReport:
    """Add ``participants`` simulated observers (``studies.simulation``) who
    complete their playlists; the last ``careless`` of them vote at random.

    Each goes through ``participant_join`` and ``vote_submit`` like a person.
    Raises ``StudyError`` when a PVS lacks ``latent_metric`` or the counts are
    impossible.
    """
    if not 0 <= careless <= participants:
        raise StudyError(f"--careless must be 0..{participants}, not {careless}")
    latent = _latent_by_stimulus(study, latent_metric, model)
    rng = np.random.default_rng(seed)
    joined, careless_ids, votes = [], [], 0
    for index in range(participants):
        observer = draw_observer(model, rng, careless=index >= participants - careless)
        participant, _ = participant_join(study=study, platform=Platform.SIMULATED,
                                          assignment_seed=int(rng.integers(2**63)))
        for trial in participant.trials.select_related("stimulus"):
            if trial.stimulus.role == StimulusRole.TRAP and not observer.careless:
                score = TRAP_SCORE
            else:  # a careless observer ignores the latent quality (and the trap has none)
                score = simulate_vote(observer, latent.get(trial.stimulus_id, 3.0), rng)
            vote_submit(participant=participant, position=trial.position, score=score)
            votes += 1
        joined.append(participant)
        if observer.careless:
            careless_ids.append(participant.anonymous_id)
    return SimulationReport(participants=joined, careless=careless_ids, votes=votes)
