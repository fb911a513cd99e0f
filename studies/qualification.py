"""The crowd qualification: a visual acuity test and a questionnaire. Django-free.

ITU-T P.910 (10/2023) and P.913 (06/2021) ask for viewers with normal (or
corrected-to-normal) visual acuity, screened before the session, in a lab
with a Snellen or Landolt chart at a known distance. A crowd participant's viewing distance is
unknown, so this test cannot give their acuity in decimal or Snellen terms.
What it does test is narrower and what a video study needs: that the
participant, on their own screen and at their own distance, resolves detail
of the size of the videos' coding artefacts (a few device pixels).

The optotype is a tumbling E, built as ISO 8596 / Snellen optotypes are: a
5 x 5 grid whose stroke width and gaps are 1/5 of the optotype's height. It is
drawn on a <canvas> sized by devicePixelRatio, so that one canvas pixel is one
device pixel (exactly at integer ratios; at a fractional ratio the browser
rounds the canvas to the nearest device pixels). The sizes go from large to
small (``STROKES_PX``), ``PER_SIZE`` optotypes each, each in one of 4
orientations drawn on the server from a seed the client never sees; the
server keeps the key and scores the answers, so a client cannot choose to
pass. Pass rule (``acuity_score``): at least ``PASS_CORRECT`` of ``PER_SIZE``
correct at the criterion size, whose stroke is ``CRITERION_STROKE_PX`` device
pixels. Guessing passes with probability about 1.6 % (4 or 5 of 5 right at
p = 1/4). The larger sizes are warm-up and are recorded for the researcher.
The client draws the optotypes from pixel masks: a script could read them, as
it could read any screen; the test stops a person who answers without
seeing, not a program written against it.

Colour vision is deliberately NOT tested: Ishihara plates are copyrighted, and
their validity depends on calibrated printing and a specified illuminant; a
rendering on an uncalibrated screen has no documented validity, so a pass or
fail from it would mean nothing.
"""
import hashlib
import hmac
from collections import Counter
from collections.abc import Iterable, Mapping

import numpy as np

ORIENTATIONS = ("right", "down", "left", "up")  # where the E's open side points
# Stroke widths of the optotype sizes shown, device pixels, large to small (height = 5 x stroke).
STROKES_PX = (6, 4, 3, 2)
# Coding artefacts of these 256x256 face videos (blocking edges, ringing, smeared texture, warped
# contours) span at least 2 pixels: a viewer who cannot see a 2 px gap at their distance cannot judge them.
CRITERION_STROKE_PX = 2
PER_SIZE = 5
PASS_CORRECT = 4
OPTOTYPE_GRID = 5  # ISO 8596: stroke width = 1/5 of the optotype height

# The E opening to the right on the 5 x 5 grid: the spine on the left, bars at rows 0, 2 and 4.
_E_RIGHT = np.array([[1, 1, 1, 1, 1],
                     [1, 0, 0, 0, 0],
                     [1, 1, 1, 1, 1],
                     [1, 0, 0, 0, 0],
                     [1, 1, 1, 1, 1]], dtype=np.uint8)


class QualificationError(ValueError):
    """Answers or a questionnaire that cannot be read."""


def acuity_key(secret: bytes, subject: str) -> list[dict]:
    """The optotypes shown to ``subject``, in order: ``{"stroke_px", "orientation"}``.

    The orientations are drawn from a seed derived from ``secret`` (kept on
    the server) and ``subject`` (the participant's token): the same subject
    always gets the same key, and nobody without the secret can compute it.
    """
    seed = int.from_bytes(hmac.new(secret, f"acuity:{subject}".encode(), hashlib.sha256).digest()[:8], "big")
    rng = np.random.default_rng(seed)
    return [{"stroke_px": stroke, "orientation": ORIENTATIONS[int(rng.integers(len(ORIENTATIONS)))]}
            for stroke in STROKES_PX for _ in range(PER_SIZE)]


def optotype_mask(orientation: str, stroke_px: int) -> list[str]:
    """The tumbling E as rows of ``0``/``1`` (1 = ink), ``5 x stroke_px`` device pixels square."""
    turns = ORIENTATIONS.index(orientation)  # right -> down -> left -> up: quarter turns clockwise
    grid = np.rot90(_E_RIGHT, k=-turns)
    pixels = np.kron(grid, np.ones((stroke_px, stroke_px), dtype=np.uint8))
    return ["".join(map(str, row)) for row in pixels]


def acuity_optotypes(key: list[dict]) -> list[dict]:
    """What the page receives: per optotype its stroke and pixel mask, no orientation field."""
    return [{"stroke_px": item["stroke_px"], "mask": optotype_mask(item["orientation"], item["stroke_px"])}
            for item in key]


def acuity_score(key: list[dict], answers: list) -> dict:
    """Score ``answers`` (one orientation per optotype, in order) against ``key``.

    Returns ``{"passed", "rule", "criterion_stroke_px", "sizes": [{"stroke_px", "shown", "correct"}]}``.
    Raises ``QualificationError`` when the answers are not one orientation per optotype.
    """
    if not isinstance(answers, list) or len(answers) != len(key):
        raise QualificationError(f"send {len(key)} answers, one per optotype")
    if any(a not in ORIENTATIONS for a in answers):
        raise QualificationError(f"every answer must be one of {', '.join(ORIENTATIONS)}")
    shown, correct = Counter(), Counter()
    for item, answer in zip(key, answers):
        shown[item["stroke_px"]] += 1
        correct[item["stroke_px"]] += answer == item["orientation"]
    sizes = [{"stroke_px": s, "shown": shown[s], "correct": correct[s]} for s in STROKES_PX]
    return {
        "passed": correct[CRITERION_STROKE_PX] >= PASS_CORRECT,
        "rule": f"at least {PASS_CORRECT} of {PER_SIZE} tumbling-E orientations right at a stroke width of "
                f"{CRITERION_STROKE_PX} device px (optotype {OPTOTYPE_GRID * CRITERION_STROKE_PX} px high)",
        "criterion_stroke_px": CRITERION_STROKE_PX,
        "sizes": sizes,
    }


def default_questionnaire() -> list[dict]:
    """Age band, gender, vision correction and screen type; every question may be declined."""
    declined = "prefer not to say"
    return [
        {"key": "age", "question": "Your age",
         "choices": ["18-24", "25-34", "35-44", "45-54", "55-64", "65 or over", declined]},
        {"key": "gender", "question": "Your gender",
         "choices": ["woman", "man", "non-binary or another gender", declined]},
        {"key": "vision_correction", "question": "Do you wear glasses or contact lenses to look at a screen?",
         "choices": ["no", "glasses", "contact lenses", declined]},
        {"key": "screen", "question": "What are you watching on?",
         "choices": ["laptop", "desktop monitor", "tablet", "phone", "other"]},
    ]


def parse_questionnaire(value) -> list[dict]:
    """Check a study's questionnaire: a list of ``{key, question, choices}`` with distinct keys and at
    least two distinct text choices each. Raises ``QualificationError`` saying what is wrong."""
    if not isinstance(value, list):
        raise QualificationError("the questionnaire must be a list of questions")
    keys = set()
    for item in value:
        if not isinstance(item, dict) or set(item) != {"key", "question", "choices"}:
            raise QualificationError("each question must be {key, question, choices}")
        choices = item["choices"]
        if not (isinstance(item["key"], str) and item["key"] and isinstance(item["question"], str)):
            raise QualificationError(f"question {item!r}: key and question must be text")
        if not (isinstance(choices, list) and len(set(choices)) == len(choices) >= 2
                and all(isinstance(c, str) and c for c in choices)):
            raise QualificationError(f"question {item['key']!r}: give at least two distinct text choices")
        if item["key"] in keys:
            raise QualificationError(f"question key {item['key']!r} is used twice")
        keys.add(item["key"])
    return value


def questionnaire_answers(questionnaire: list[dict], answers) -> dict[str, str]:
    """Each question's answer, checked against its choices; ``QualificationError`` for a missing
    answer, one off its choices or an unknown question."""
    if not isinstance(answers, dict):
        raise QualificationError("the questionnaire answers must be an object")
    keys = [q["key"] for q in questionnaire]
    unknown = set(answers) - set(keys)
    if unknown:
        raise QualificationError(f"unknown question(s): {', '.join(sorted(map(str, unknown)))}")
    for question in questionnaire:
        if answers.get(question["key"]) not in question["choices"]:
            raise QualificationError(f"answer {question['question']!r} with one of its choices")
    return {key: answers[key] for key in keys}


def questionnaire_counts(questionnaire: list[dict], answered: Iterable[Mapping[str, str]]) -> list[dict]:
    """Aggregate answers: per question ``{key, question, counts: [(choice, n)], not_asked}`` (every
    choice listed, zeros included; ``not_asked``: answer sets without this question, e.g. given to
    another study's questionnaire). No per-person rows."""
    answered = list(answered)
    report = []
    for question in questionnaire:
        given = Counter(a[question["key"]] for a in answered if question["key"] in a)
        report.append({
            "key": question["key"], "question": question["question"],
            "counts": [(choice, given[choice]) for choice in question["choices"]]
                      + [(other, n) for other, n in sorted(given.items()) if other not in question["choices"]],
            "not_asked": sum(question["key"] not in a for a in answered),
        })
    return report
