"""Rating dimensions: the scales a trial asks, one vote each. Django-free.

A generative decoder can keep a face sharp while it changes who the person is,
their expression, or how they move; one overall score hides which. A study
asks one or more dimensions on every trial, each answered on the method's
scale and analysed as a scale of its own. The first is the study's primary
dimension (the vote's ``score``); the others are stored with it in
``Vote.scores``. ``related_metrics`` names the metrics (``metrics.registry``) the
correlation dashboard sets against a dimension first (identity metrics against
the identity score, temporal ones against motion).

A study may relabel a known dimension or add its own with
``key=wording`` (``parse_dimensions``).
"""
import re
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Dimension:
    """One rating dimension. ``key``: a slug, used in votes files as ``vote_<key>``;
    ``wording``: the words the question uses (``RatingMethod.question``);
    ``label``: a short column heading."""

    key: str
    label: str
    wording: str
    related_metrics: tuple[str, ...] = field(default=())

    def as_dict(self) -> dict:
        return {"key": self.key, "label": self.label, "wording": self.wording}


DIMENSIONS: dict[str, Dimension] = {
    d.key: d
    for d in (
        Dimension("overall", "Overall quality", "the overall quality"),
        Dimension("identity", "Identity preserved", "how well the person's identity is preserved",
                  related_metrics=("id_sim", "aed")),
        Dimension("expression", "Expression and mouth", "the fidelity of the expression and the mouth",
                  related_metrics=("akd_mouth", "mouth_r", "akd", "ear_r")),
        Dimension("motion", "Motion naturalness",
                  "how natural the motion is (no jitter, warping or temporal artefacts)",
                  related_metrics=("tof", "tdiff", "pose_yaw", "pose_pitch", "pose_roll")),
    )
}
DEFAULT = ("overall",)
_KEY = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


class DimensionError(ValueError):
    """A dimension list that cannot be used."""


def parse_dimensions(spec: str | None) -> list[dict]:
    """Turn ``"overall,identity,lighting=the lighting"`` into stored dimension dicts.

    Each item is a known key (``DIMENSIONS``) or ``key=wording``, which adds a
    dimension or rewords a known one. Returns ``[{"key", "label", "wording"}]``
    in the order given; ``None`` or empty gives the default (overall quality).
    Raises ``DimensionError`` for an unknown key without wording, a key that is
    not a lower-case slug, or a key given twice.
    """
    items = [item.strip() for item in (spec or "").split(",") if item.strip()] or list(DEFAULT)
    chosen = []
    for item in items:
        key, _, wording = (part.strip() for part in item.partition("="))
        if not _KEY.match(key):
            raise DimensionError(f"dimension key {key!r}: use a lower-case slug (a-z, 0-9, _), at most 32 characters")
        known = DIMENSIONS.get(key)
        if known is None and not wording:
            raise DimensionError(f"unknown dimension {key!r}: known are {', '.join(DIMENSIONS)}; "
                                 f"or give its wording as {key}=<what to judge>")
        dimension = Dimension(key, known.label if known else key.replace("_", " ").capitalize(),
                              wording or known.wording)
        chosen.append(dimension.as_dict())
    keys = [d["key"] for d in chosen]
    if len(set(keys)) != len(keys):
        raise DimensionError(f"a dimension is listed twice: {', '.join(keys)}")
    return chosen


def related_metrics(key: str) -> tuple[str, ...]:
    """The metrics set against dimension ``key`` first (empty for a study's own dimension)."""
    known = DIMENSIONS.get(key)
    return known.related_metrics if known else ()
