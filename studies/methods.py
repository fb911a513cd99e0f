"""The rating methods a study can use, and their scales. Django-free.

One entry per method, as pyiqa lists its metrics: what it shows on a trial,
what it asks, the scale of a vote and where the method is defined. A vote's
``score`` is stored as answered on the page (``Trial.swapped`` tells the order
the two videos of a pair were shown in), so the analysis reorients it.

- ``acr-hr``: one video, the 5-point quality scale; each SRC is also shown as
  a hidden reference (ITU-T P.910 (10/2023) §8.1, P.913 (06/2021) §7.2.2).
- ``dcr``: the reference, then the PVS (one after the other with a grey gap,
  or side by side), the 5-point impairment scale (ITU-T P.910 (10/2023),
  degradation category rating; ITU-R BT.500-15 DSIS, its variant I). A
  reference shown against itself is the method's own gold trial.
- ``ccr``: two videos of one SRC in random order, the 7-point comparison
  scale −3..+3 rating the second against the first (ITU-T P.910 (10/2023),
  comparison category rating; ITU-T P.800 (08/1996) Annex E).
- ``pc``: two videos of one SRC in random order, forced choice of the better
  one (ITU-T P.910 (10/2023), pair comparison); scaled by Thurstone Case V
  or Bradley–Terry.
"""
from dataclasses import dataclass


@dataclass(frozen=True)
class RatingMethod:
    """One rating method.

    ``scale``: (value, label) pairs in the order the page shows them; a
    vote's score is one of the values. ``paired``: a trial shows two videos.
    ``reference_first``: the first of the pair is always the SRC (DCR); else
    the order is drawn per trial. ``question``: what the page asks, ``{dimension}``
    standing for the dimension's wording. ``trap_text``: the instruction the
    trapping clip shows, answered by ``trap_score``. ``reference_expected``:
    what a careful viewer answers on a hidden reference (ACR-HR: the SRC;
    DCR: the SRC against itself); empty where the method shows none.
    ``trap_score`` and ``reference_expected`` are canonical (``canonical_score``).
    """

    name: str
    label: str
    source: str
    scale: tuple[tuple[int, str], ...]
    question: str
    trap_text: tuple[str, ...]
    trap_score: int
    paired: bool = False
    reference_first: bool = False
    reference_expected: tuple[int, ...] = ()

    @property
    def values(self) -> tuple[int, ...]:
        return tuple(value for value, _ in self.scale)

    def canonical_score(self, score: int, swapped: bool) -> int:
        """A vote as answered on the page (``swapped``: B was shown first) turned to the pair's
        own order: CCR rates B against A (−3..+3), PC is 1 when A was chosen and 2 for B.
        Single videos and DCR pairs are never swapped."""
        if not swapped:
            return score
        if self.name == "ccr":
            return -score
        if self.name == "pc":
            return FIRST + SECOND - score
        raise ValueError(f"{self.name} trials are never shown swapped")


ACR_SCALE = ((5, "Excellent"), (4, "Good"), (3, "Fair"), (2, "Poor"), (1, "Bad"))
IMPAIRMENT_SCALE = (
    (5, "Imperceptible"), (4, "Perceptible but not annoying"), (3, "Slightly annoying"),
    (2, "Annoying"), (1, "Very annoying"),
)
COMPARISON_SCALE = (
    (3, "Much better"), (2, "Better"), (1, "Slightly better"), (0, "About the same"),
    (-1, "Slightly worse"), (-2, "Worse"), (-3, "Much worse"),
)
# The answer of a pair comparison: which of the two videos, in the order shown.
CHOICE_SCALE = ((1, "The first video"), (2, "The second video"))
FIRST, SECOND = 1, 2

METHODS: dict[str, RatingMethod] = {
    method.name: method
    for method in (
        RatingMethod(
            name="acr-hr", label="ACR-HR (absolute category rating with hidden reference)",
            source="ITU-T P.910 (10/2023) §8.1; ITU-T P.913 (06/2021) §7.2.2",
            scale=ACR_SCALE, question="How would you rate {dimension} of this video?",
            trap_text=("Please rate", "this video", "Poor"), trap_score=2, reference_expected=(4, 5),
        ),
        RatingMethod(
            name="dcr", label="DCR (degradation category rating)",
            source="ITU-T P.910 (10/2023), DCR; ITU-R BT.500-15 DSIS (variant I)",
            scale=IMPAIRMENT_SCALE, paired=True, reference_first=True,
            question="The first video is the reference. How do you judge the impairment of the second video, "
                     "for {dimension}?",
            trap_text=("Please answer", "Annoying"), trap_score=2, reference_expected=(4, 5),
        ),
        RatingMethod(
            name="ccr", label="CCR (comparison category rating)",
            source="ITU-T P.910 (10/2023), CCR; ITU-T P.800 (08/1996) Annex E",
            scale=COMPARISON_SCALE, paired=True,
            question="Compared with the first video, how is the second video, for {dimension}?",
            # "About the same" reads the same whichever video carries the text.
            trap_text=("Please answer", "About the same"), trap_score=0,
        ),
        RatingMethod(
            name="pc", label="PC (pair comparison, forced choice)",
            source="ITU-T P.910 (10/2023), pair comparison; Thurstone Case V, Bradley–Terry",
            scale=CHOICE_SCALE, paired=True,
            question="Which video is better, for {dimension}?",
            trap_text=("Please choose", "this video"), trap_score=FIRST,  # the trap is the pair's A
        ),
    )
}


def get_method(name: str) -> RatingMethod:
    """The method called ``name``; ``KeyError`` naming the known ones otherwise."""
    try:
        return METHODS[name]
    except KeyError:
        raise KeyError(f"unknown rating method {name!r}; known: {', '.join(METHODS)}") from None
