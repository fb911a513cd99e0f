"""The participant's way through a study: landing and consent, viewing check,
trials, completion. The URL token is the participant's only credential.

Every view here may be shown inside a crowd platform's frame (MTurk's ExternalQuestion) and works
there without cookies (``studies.views.framing``); every other page of the site refuses frames."""
import json
import math
from pathlib import Path

from django.conf import settings
from django.http import (
    FileResponse,
    Http404,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseNotFound,
    JsonResponse,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from studies import services
from studies.crowd import MTURK_PREVIEW, MTURK_SUBMIT_PARAMETER, mturk_submit_origin, mturk_submit_url
from studies.methods import get_method
from studies.models import Participant, Platform, Presentation, StimulusRole, Study
from studies.qualification import ORIENTATIONS, acuity_optotypes
from studies.selectors import next_trial, participant_progress, study_video_size
from studies.throttle import client_address, join_allowed
from studies.views.framing import crowd_frameable, same_origin_post

# Query parameters crowd platforms append to the study link: participant, study, session ids
# (MTurk's ExternalQuestion: worker, HIT, assignment; studies.crowd).
CROWD_PARAMETERS = {
    Platform.PROLIFIC: ("PROLIFIC_PID", "STUDY_ID", "SESSION_ID"),
    Platform.MTURK: ("workerId", "hitId", "assignmentId"),
}
# Carried from the link to the consent form, and so to the join.
LINK_PARAMETERS = (*sum(CROWD_PARAMETERS.values(), ()), MTURK_SUBMIT_PARAMETER)


def _external_identity(params) -> dict:
    """Platform and ids from the study link; a lab link has none. ``ValueError`` when an MTurk
    link's ``turkSubmitTo`` is not one of ``FACEQA_MTURK_SUBMIT_ORIGINS``."""
    for platform, (participant_key, study_key, session_key) in CROWD_PARAMETERS.items():
        if params.get(participant_key):
            identity = {
                "platform": platform, "external_id": params[participant_key],
                "external_study_id": params.get(study_key, ""),
                "external_session_id": params.get(session_key, ""),
            }
            if platform == Platform.MTURK and params.get(MTURK_SUBMIT_PARAMETER):
                identity["submit_to"] = mturk_submit_origin(params[MTURK_SUBMIT_PARAMETER],
                                                            allowed=settings.FACEQA_MTURK_SUBMIT_ORIGINS)
            return identity
    return {"platform": Platform.LAB}


def _may_resume(request, study: Study, participant: Participant, identity: dict) -> bool:
    """A crowd id resumes in the browser that started it (its session), or, on MTurk, under the
    assignment it joined with: MTurk puts the assignment id only into the link of the worker who
    accepted it, and inside MTurk's frame a browser may keep no cookie of ours."""
    if request.session.get(_session_key(study)) == str(participant.token):
        return True
    assignment = identity.get("external_session_id")
    return (participant.platform == Platform.MTURK and bool(assignment) and assignment != MTURK_PREVIEW
            and participant.external_session_id == assignment)


def _session_key(study: Study) -> str:
    return f"studies:{study.name}:token"


@crowd_frameable
@same_origin_post
def landing_view(request, name):
    """Consent and instructions; agreeing joins the study (or resumes it)."""
    study = get_object_or_404(Study, name=name)
    try:
        identity = _external_identity(request.GET if request.method == "GET" else request.POST)
    except ValueError as error:
        return render(request, "studies/closed.html", {"study": study, "reason": f"this link is broken: {error}"},
                      status=400)
    is_preview = request.GET.get("assignmentId") == MTURK_PREVIEW
    if request.method == "POST" and not is_preview:
        if not join_allowed(client_address(request)):
            reason = "too many attempts to join from your address; wait a minute and try again"
            return render(request, "studies/closed.html", {"study": study, "reason": reason}, status=429)
        resume = request.session.get(_session_key(study))
        if identity["platform"] == Platform.LAB and resume and "new" not in request.POST:
            return redirect("studies:session", token=resume)
        try:
            participant, created = services.participant_join(study=study, **identity)
        except services.CrowdIdBlocked:
            return _not_eligible(request, study)
        except services.StudyError as error:
            return render(request, "studies/closed.html", {"study": study, "reason": str(error)}, status=409)
        if not created and not _may_resume(request, study, participant, identity):
            # A crowd id resumes only where it started: its progress, votes and completion code
            # are that person's.
            reason = (f"this {participant.get_platform_display()} id is already taking part in this study in "
                      "another browser; go on there, or write to the researcher")
            return render(request, "studies/closed.html", {"study": study, "reason": reason}, status=409)
        if not created and participant.platform == Platform.MTURK:
            services.participant_record_assignment(participant=participant,
                                                   external_session_id=identity["external_session_id"],
                                                   submit_to=identity.get("submit_to", ""))
        services.participant_consent(participant=participant)
        request.session[_session_key(study)] = str(participant.token)
        return redirect("studies:session", token=participant.token)
    return render(request, "studies/landing.html", {
        "study": study, "identity": identity, "is_preview": is_preview,
        "resume_token": request.session.get(_session_key(study)),
        "crowd_fields": {k: v for k, v in request.GET.items() if k in LINK_PARAMETERS},
    })


NOT_ELIGIBLE = "you cannot take part in this study. Thank you for your interest."


def _not_eligible(request, study: Study):
    """The answer to a blocked crowd id or a failed qualification: 403 and no detail of why."""
    return render(request, "studies/not_eligible.html", {"study": study, "reason": NOT_ELIGIBLE}, status=403)


def _gated(participant: Participant) -> HttpResponse | None:
    """403 for a request that would skip the qualification or come from a blocked or unqualified
    crowd id (the participant's own pages say why; this says nothing more)."""
    if services.participant_gate(participant) is not None:
        return HttpResponse("not allowed before the qualification is passed", status=403)
    return None


def _participant(token) -> Participant:
    return get_object_or_404(Participant.objects.select_related("study"), token=token, is_simulated=False)


@crowd_frameable
def session_view(request, token):
    """Whatever comes next: the viewing check, the next unanswered trial, or the end."""
    participant = _participant(token)
    gate = services.participant_gate(participant)
    if gate == "qualification":
        return _qualification_page(request, participant)
    if gate is not None:
        return _not_eligible(request, participant.study)
    if participant.viewing_checked_at is None:
        return render(request, "studies/viewing.html", {
            "participant": participant, "video_size": study_video_size(participant.study),
        })
    trial = next_trial(participant)
    if trial is None:
        return redirect("studies:done", token=participant.token)
    return render(request, "studies/trial.html", _trial_context(participant, trial))


def _trial_context(participant: Participant, trial) -> dict:
    """What the trial page shows: the videos in the order of this trial, the method's question
    per dimension and its scale. The video URLs say first and second, never which is a reference."""
    study = participant.study
    method = get_method(study.method)
    videos = 2 if trial.stimulus.is_pair else 1
    return {
        "participant": participant,
        "trial": trial,
        "is_training": trial.stimulus.role == StimulusRole.TRAINING,
        "progress": participant_progress(participant),
        "method": method,
        "paired": videos == 2,
        "side_by_side": videos == 2 and study.presentation == Presentation.SIDE_BY_SIDE,
        "questions": [{"key": d["key"], "label": d["label"], "text": method.question.format(dimension=d["wording"])}
                      for d in study.dimensions],
        "scale": method.scale,
        "trial_config": {
            "position": trial.position,
            "media_urls": [reverse("studies:video", kwargs={"token": participant.token, "position": trial.position,
                                                            "slot": slot}) for slot in range(1, videos + 1)],
            "video_size": trial.stimulus.source.size,
            "replays_allowed": study.replays_allowed,
            "side_by_side": videos == 2 and study.presentation == Presentation.SIDE_BY_SIDE,
            "gap_ms": study.gap_ms,
            "dimensions": [d["key"] for d in study.dimensions],
            "vote_url": reverse("studies:vote", kwargs={"token": participant.token}),
        },
    }


def _qualification_page(request, participant: Participant):
    """The acuity test (optotype masks only: the orientations stay on the server) and the questionnaire."""
    return render(request, "studies/qualification.html", {
        "participant": participant, "questionnaire": participant.study.questionnaire,
        "acuity_config": {
            "optotypes": acuity_optotypes(services.participant_acuity_key(participant)),
            "orientations": list(ORIENTATIONS),
            "url": reverse("studies:qualification", kwargs={"token": participant.token}),
            "next": reverse("studies:session", kwargs={"token": participant.token}),
        },
    })


@crowd_frameable
@same_origin_post
@require_POST
def qualification_view(request, token):
    """Score the acuity answers and store the questionnaire (``services.qualification_submit``);
    answer whether the crowd id passed and where to go next."""
    participant = _participant(token)
    try:
        body = _json_body(request)
        ratio = body.get("device_pixel_ratio")
        if ratio is not None and not 0 < _number(ratio) <= 16:
            raise ValueError(f"device_pixel_ratio {ratio!r} is out of range")
        qualification = services.qualification_submit(
            participant=participant, acuity=body.get("acuity"), questionnaire=body.get("questionnaire"),
            device_pixel_ratio=ratio)
    except (ValueError, services.StudyError) as error:
        return HttpResponseBadRequest(f"not recorded: {error}")
    return JsonResponse({"passed": qualification.passed,
                         "next": reverse("studies:session", kwargs={"token": participant.token})})


@crowd_frameable
def video_view(request, token, position, slot):
    """A video of the trial being shown (the participant's next unanswered one): ``slot`` 1 is
    shown first, 2 second (a pair). URL and file name do not tell a hidden reference, a PVS or
    the trap apart. Any other position is 404: a script cannot fetch the playlist ahead and find
    the gold trials."""
    participant = _participant(token)
    if _gated(participant) is not None:  # answered like any other position: nothing tells why
        return HttpResponseNotFound("only the video of the trial being shown is served")
    trial = next_trial(participant)
    if trial is None or trial.position != position:
        raise Http404("only the video of the trial being shown is served")
    stimulus = trial.stimulus
    shown = [stimulus.media_path]
    if stimulus.is_pair:
        # DCR shows the reference (the pair's B) first; CCR and PC in the order drawn for the trial.
        b_first = get_method(participant.study.method).reference_first or trial.swapped
        shown = ([stimulus.companion_media_path, stimulus.media_path] if b_first
                 else [stimulus.media_path, stimulus.companion_media_path])
    if not 1 <= slot <= len(shown):
        raise Http404("this trial has no such video")
    path = Path(settings.DATA_DIR) / shown[slot - 1]
    if not path.is_file():
        raise Http404("the video of this trial is missing")
    # One neutral file name for every trial: FileResponse would otherwise name src.mp4 or browser.mp4.
    return FileResponse(path.open("rb"), content_type="video/mp4", filename="trial.mp4")


def _not_a_number(name: str):
    raise ValueError(f"{name} is not a number")


def _json_body(request) -> dict:
    try:
        body = json.loads(request.body, parse_constant=_not_a_number)
    except (ValueError, UnicodeDecodeError) as error:
        raise ValueError(f"request body is not JSON: {error}") from error
    if not isinstance(body, dict):
        raise ValueError("request body must be a JSON object")
    return body


@crowd_frameable
@same_origin_post
@require_POST
def viewing_view(request, token):
    """Record the viewing check; answer with the problems found (none = passed)."""
    participant = _participant(token)
    if refused := _gated(participant):
        return refused
    try:
        problems = services.participant_record_viewing(participant=participant, viewing=_json_body(request))
    except (ValueError, services.StudyError) as error:
        return HttpResponseBadRequest(str(error))
    return JsonResponse({"passed": not problems, "problems": problems})


# What a browser can honestly send: a position or count up to a million, a duration up to a day (seconds).
MAX_COUNT = 1_000_000
MAX_SECONDS = 86_400.0


# JSON allows integers of any length; beyond 2**53 a float cannot hold them (and math.isfinite overflows).
MAX_JSON_INTEGER = 2**53


def _number(value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{value!r} is not a number")
    if isinstance(value, int) and abs(value) > MAX_JSON_INTEGER:
        raise ValueError("an integer too large to be an answer")
    return value


def _count(value) -> int:
    if not (math.isfinite(_number(value)) and value == int(value) and 0 <= value <= MAX_COUNT):
        raise ValueError(f"{value!r} is not a whole number from 0 to {MAX_COUNT}")
    return int(value)


def _seconds(value) -> float:
    if not 0 <= _number(value) <= MAX_SECONDS:
        raise ValueError(f"{value!r} is not a duration from 0 to {MAX_SECONDS:g} s")
    return float(value)


def _score(value) -> int:
    """A scale value: a whole number (CCR's are negative too)."""
    if not (math.isfinite(_number(value)) and value == int(value) and abs(value) <= MAX_COUNT):
        raise ValueError(f"{value!r} is not a whole number")
    return int(value)


def _answers(body: dict) -> dict:
    """``{"scores": {dimension: value}}`` or, for one dimension, ``{"score": value}``."""
    if "scores" not in body:
        return {"score": _score(body["score"])}
    if not isinstance(body["scores"], dict) or len(body["scores"]) > 32:
        raise ValueError("scores must be an object of at most 32 answers")
    return {"scores": {str(key)[:32]: _score(value) for key, value in body["scores"].items()}}


VOTE_FIELDS = {"watch_seconds": _seconds, "stall_count": _count, "stall_seconds": _seconds, "replays": _count}


@crowd_frameable
@same_origin_post
@require_POST
def vote_view(request, token):
    """Store one vote; a repeated post is answered with the vote stored first."""
    participant = _participant(token)
    if refused := _gated(participant):
        return refused
    try:
        body = _json_body(request)
        extras = {k: cast(body[k]) for k, cast in VOTE_FIELDS.items() if body.get(k) is not None}
        position = _count(body["position"])
        answers = _answers(body)
    except (KeyError, TypeError, ValueError) as error:
        return HttpResponseBadRequest(f"vote not stored: {error!r}")
    try:
        vote, created = services.vote_submit(participant=participant, position=position, **answers, **extras)
    except services.TrialNotFound as error:
        raise Http404(str(error)) from error
    except services.StudyError as error:
        return HttpResponse(f"vote not stored: {error}", status=409)
    return JsonResponse({
        "position": vote.trial.position, "score": vote.score, "created": created,
        "next": reverse("studies:session", kwargs={"token": participant.token}),
    }, status=201 if created else 200)


@crowd_frameable
def done_view(request, token):
    """The completion code, and the way back to the crowd platform: on MTurk, the form that submits
    the HIT (``assignmentId`` and the completion code, by POST to ``{turkSubmitTo}/mturk/externalSubmit``,
    from inside MTurk's frame as Amazon's examples do; ``studies.crowd``)."""
    participant = _participant(token)
    if next_trial(participant) is not None:
        return redirect("studies:session", token=participant.token)
    study = participant.study
    mturk_submit = ""
    if participant.platform == Platform.MTURK and participant.external_session_id not in ("", MTURK_PREVIEW):
        try:  # checked when stored; checked again, as the setting may have changed since
            mturk_submit = mturk_submit_url(mturk_submit_origin(participant.submit_to,
                                                                allowed=settings.FACEQA_MTURK_SUBMIT_ORIGINS))
        except ValueError:
            pass  # no known server to submit to: the page shows the completion code only
    completion_url = ""
    if study.completion_url and not mturk_submit:
        completion_url = study.completion_url.replace("{code}", study.completion_code)
    return render(request, "studies/done.html", {
        "participant": participant, "study": study, "completion_url": completion_url, "mturk_submit": mturk_submit,
    })
