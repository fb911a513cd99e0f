"""The participant's way through a study: landing and consent, viewing check,
trials, completion. The URL token is the participant's only credential."""
import json
import math
from pathlib import Path

from django.conf import settings
from django.http import (
    FileResponse,
    Http404,
    HttpResponse,
    HttpResponseBadRequest,
    JsonResponse,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from studies import services
from studies.models import AcrScore, Participant, Platform, StimulusRole, Study
from studies.selectors import next_trial, participant_progress, study_video_size
from studies.throttle import client_address, join_allowed

# Query parameters crowd platforms append to the study link.
CROWD_PARAMETERS = {
    Platform.PROLIFIC: ("PROLIFIC_PID", "STUDY_ID", "SESSION_ID"),
    Platform.MTURK: ("workerId", "hitId", "assignmentId"),
}
MTURK_PREVIEW = "ASSIGNMENT_ID_NOT_AVAILABLE"


def _external_identity(params) -> dict:
    """Platform and ids from the study link; a lab link has none."""
    for platform, (participant_key, study_key, session_key) in CROWD_PARAMETERS.items():
        if params.get(participant_key):
            return {
                "platform": platform, "external_id": params[participant_key],
                "external_study_id": params.get(study_key, ""),
                "external_session_id": params.get(session_key, ""),
            }
    return {"platform": Platform.LAB}


def _session_key(study: Study) -> str:
    return f"studies:{study.name}:token"


def landing_view(request, name):
    """Consent and instructions; agreeing joins the study (or resumes it)."""
    study = get_object_or_404(Study, name=name)
    identity = _external_identity(request.GET if request.method == "GET" else request.POST)
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
        except services.StudyError as error:
            return render(request, "studies/closed.html", {"study": study, "reason": str(error)}, status=409)
        if not created and request.session.get(_session_key(study)) != str(participant.token):
            # A crowd id resumes only in the browser that started it: its progress, votes and
            # completion code are that person's.
            reason = (f"this {participant.get_platform_display()} id is already taking part in this study in "
                      "another browser; go on there, or write to the researcher")
            return render(request, "studies/closed.html", {"study": study, "reason": reason}, status=409)
        services.participant_consent(participant=participant)
        request.session[_session_key(study)] = str(participant.token)
        return redirect("studies:session", token=participant.token)
    return render(request, "studies/landing.html", {
        "study": study, "identity": identity, "is_preview": is_preview,
        "resume_token": request.session.get(_session_key(study)),
        "crowd_fields": {k: v for k, v in request.GET.items() if k in sum(CROWD_PARAMETERS.values(), ())},
    })


def _participant(token) -> Participant:
    return get_object_or_404(Participant.objects.select_related("study"), token=token, is_simulated=False)


def session_view(request, token):
    """Whatever comes next: the viewing check, the next unanswered trial, or the end."""
    participant = _participant(token)
    if participant.viewing_checked_at is None:
        return render(request, "studies/viewing.html", {
            "participant": participant, "video_size": study_video_size(participant.study),
        })
    trial = next_trial(participant)
    if trial is None:
        return redirect("studies:done", token=participant.token)
    progress = participant_progress(participant)
    return render(request, "studies/trial.html", {
        "participant": participant,
        "trial": trial,
        "is_training": trial.stimulus.role == StimulusRole.TRAINING,
        "progress": progress,
        "scale": [(score.value, score.label) for score in AcrScore],
        "trial_config": {
            "position": trial.position,
            "media_url": reverse("studies:video", kwargs={"token": participant.token,
                                                          "position": trial.position}),
            "video_size": trial.stimulus.source.size,
            "replays_allowed": participant.study.replays_allowed,
            "vote_url": reverse("studies:vote", kwargs={"token": participant.token}),
        },
    })


def video_view(request, token, position):
    """The video of the trial being shown (the participant's next unanswered one), under a URL and
    a file name that do not tell a hidden reference, a PVS or the trap apart. Any other position is
    404: a script cannot fetch the playlist ahead and find the gold trials."""
    participant = _participant(token)
    trial = next_trial(participant)
    if trial is None or trial.position != position:
        raise Http404("only the video of the trial being shown is served")
    path = Path(settings.DATA_DIR) / trial.stimulus.media_path
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


@require_POST
def viewing_view(request, token):
    """Record the viewing check; answer with the problems found (none = passed)."""
    participant = _participant(token)
    try:
        problems = services.participant_record_viewing(participant=participant, viewing=_json_body(request))
    except (ValueError, services.StudyError) as error:
        return HttpResponseBadRequest(str(error))
    return JsonResponse({"passed": not problems, "problems": problems})


# What a browser can honestly send: a position or count up to a million, a duration up to a day (seconds).
MAX_COUNT = 1_000_000
MAX_SECONDS = 86_400.0


def _number(value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{value!r} is not a number")
    return value


def _count(value) -> int:
    if not (math.isfinite(_number(value)) and value == int(value) and 0 <= value <= MAX_COUNT):
        raise ValueError(f"{value!r} is not a whole number from 0 to {MAX_COUNT}")
    return int(value)


def _seconds(value) -> float:
    if not 0 <= _number(value) <= MAX_SECONDS:
        raise ValueError(f"{value!r} is not a duration from 0 to {MAX_SECONDS:g} s")
    return float(value)


VOTE_FIELDS = {"watch_seconds": _seconds, "stall_count": _count, "stall_seconds": _seconds, "replays": _count}


@require_POST
def vote_view(request, token):
    """Store one vote; a repeated post is answered with the vote stored first."""
    participant = _participant(token)
    try:
        body = _json_body(request)
        extras = {k: cast(body[k]) for k, cast in VOTE_FIELDS.items() if body.get(k) is not None}
        position, score = _count(body["position"]), _count(body["score"])
    except (KeyError, TypeError, ValueError) as error:
        return HttpResponseBadRequest(f"vote not stored: {error!r}")
    try:
        vote, created = services.vote_submit(participant=participant, position=position, score=score, **extras)
    except services.TrialNotFound as error:
        raise Http404(str(error)) from error
    except services.StudyError as error:
        return HttpResponse(f"vote not stored: {error}", status=409)
    return JsonResponse({
        "position": vote.trial.position, "score": vote.score, "created": created,
        "next": reverse("studies:session", kwargs={"token": participant.token}),
    }, status=201 if created else 200)


def done_view(request, token):
    """The completion code, and the way back to the crowd platform."""
    participant = _participant(token)
    if next_trial(participant) is not None:
        return redirect("studies:session", token=participant.token)
    study = participant.study
    completion_url = study.completion_url.replace("{code}", study.completion_code) if study.completion_url else ""
    return render(request, "studies/done.html", {
        "participant": participant, "study": study, "completion_url": completion_url,
    })
