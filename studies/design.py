"""The stimuli of a study, by rating method: what each trial can show.

- ACR-HR: every PVS alone, and every SRC alone as its hidden reference.
- DCR: every PVS paired with its SRC, and every SRC paired with itself (the
  hidden reference of DCR: a careful viewer finds no impairment).
- CCR and PC: pairs of two videos of one SRC, from one or more pair sets
  (comma-separated): ``reference`` (each PVS against its SRC), ``same-rate``
  (PVSs of two codecs at the same rate point: within a SRC, each codec's PVSs
  ranked by bitrate, equal ranks paired; at matched bitrates when the HRCs
  were built at common target rates, else rung for rung of the codecs' ladders) or ``all`` (every two of the SRC and its PVSs). CCR's default,
  ``reference,same-rate``, gives every PVS a CMOS against its SRC and the
  codec comparisons at matched rates.

A pair is stored once, in a fixed order (A, B); the order a participant sees
is drawn per trial for CCR and PC (``Trial.swapped``); DCR always shows B,
the SRC, first. The builders return unsaved rows; ``studies.services``
saves them in one transaction.
"""
import itertools
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from django.conf import settings

from qa_platform.codec import video
from qa_platform.core.models import Pvs, Source
from studies.methods import RatingMethod
from studies.models import Stimulus, StimulusRole, Study
from studies.trap import render_instruction

PAIR_SETS = ("reference", "same-rate", "all")
DEFAULT_PAIR_SET = {"ccr": "reference,same-rate", "pc": "all"}


class DesignError(ValueError):
    """The chosen PVSs cannot make the stimuli asked for."""


def single(study: Study, role: str, source: Source, pvs: Pvs | None, expected: Sequence[int] = ()) -> Stimulus:
    """One video: ``pvs``, or the SRC itself when None."""
    return Stimulus(study=study, role=role, source=source, pvs=pvs, expected_scores=list(expected),
                    media_path=pvs.browser_path if pvs else source.browser_path)


def pair(study: Study, role: str, source: Source, a: Pvs | None, b: Pvs | None,
         expected: Sequence[int] = ()) -> Stimulus:
    """Two videos of ``source``: A and B, each a PVS or the SRC itself when None."""
    return Stimulus(study=study, role=role, source=source, pvs=a, is_pair=True, companion_pvs=b,
                    media_path=a.browser_path if a else source.browser_path,
                    companion_media_path=b.browser_path if b else source.browser_path,
                    expected_scores=list(expected))


def _by_source(pvs: Sequence[Pvs]) -> dict[Source, list[Pvs]]:
    groups = defaultdict(list)
    for p in pvs:
        groups[p.source].append(p)
    return dict(sorted(groups.items(), key=lambda item: item[0].name))


def pair_candidates(pvs: Sequence[Pvs], pair_sets: str) -> list[tuple[Pvs | None, Pvs | None]]:
    """The pairs of one SRC's ``pvs`` that the comma-separated ``pair_sets`` ask for, None standing
    for the SRC, each pair once.

    ``same-rate``: within each codec, PVSs ranked by bitrate (kbit/s, lowest
    first); PVSs of different codecs with equal rank are paired. Raises
    ``DesignError`` for an unknown set.
    """
    pairs, seen = [], set()
    for pair_set in (name.strip() for name in pair_sets.split(",")):
        for a, b in _pair_set(pvs, pair_set):
            key = frozenset((a.pk if a else None, b.pk if b else None))
            if key not in seen:
                seen.add(key)
                pairs.append((a, b))
    return pairs


def _pair_set(pvs: Sequence[Pvs], pair_set: str) -> list[tuple[Pvs | None, Pvs | None]]:
    if pair_set == "reference":
        return [(p, None) for p in pvs]
    if pair_set == "all":
        return list(itertools.combinations([None, *pvs], 2))
    if pair_set == "same-rate":
        ladders = defaultdict(list)
        for p in sorted(pvs, key=lambda p: (p.hrc.codec, p.kbps or 0.0, p.pk)):
            ladders[p.hrc.codec].append(p)
        return [(a, b) for ladder_a, ladder_b in itertools.combinations(ladders.values(), 2)
                for a, b in zip(ladder_a, ladder_b)]
    raise DesignError(f"unknown pair set {pair_set!r}: choose one of {', '.join(PAIR_SETS)}")


def test_stimuli(study: Study, method: RatingMethod, pvs: Sequence[Pvs], pair_set: str | None) -> list[Stimulus]:
    """The test stimuli of ``method`` over the finished ``pvs``.

    Raises ``DesignError`` when a pair set gives no pair (``same-rate`` over one codec).
    """
    groups = _by_source(pvs)
    test = StimulusRole.TEST
    if method.name == "acr-hr":
        return ([single(study, test, s, None, method.reference_expected) for s in groups]
                + [single(study, test, p.source, p) for p in pvs])
    if method.name == "dcr":
        return ([pair(study, test, s, None, None, method.reference_expected) for s in groups]
                + [pair(study, test, p.source, p, None) for p in pvs])
    pair_set = pair_set or DEFAULT_PAIR_SET[method.name]
    stimuli = [pair(study, test, source, a, b)
               for source, members in groups.items() for a, b in pair_candidates(members, pair_set)]
    if not stimuli:
        raise DesignError(f"the pair set {pair_set!r} gives no pair over these PVSs "
                          "(same-rate pairs need PVSs of at least two codecs per SRC)")
    return stimuli


def training_stimuli(study: Study, method: RatingMethod, pvs: Sequence[Pvs], count: int,
                     rng: np.random.Generator) -> list[Stimulus]:
    """``count`` training stimuli from one SRC, spread over its quality range: the SRC
    itself (for methods that show a reference against itself), then its PVSs from the
    highest bitrate to the lowest; paired methods pair each with the SRC."""
    sources = list(_by_source(pvs))
    source = sources[rng.integers(len(sources))]
    with_reference = method.name in ("acr-hr", "dcr")
    ladder = [None] * with_reference + sorted((p for p in pvs if p.source == source), key=lambda p: -(p.kbps or 0.0))
    picks = np.unique(np.rint(np.linspace(0, len(ladder) - 1, min(count, len(ladder)))).astype(int))
    return chosen_training(study, method, [ladder[i] for i in picks], source)


def chosen_training(study: Study, method: RatingMethod, pvs: Sequence[Pvs | None],
                    source: Source | None = None) -> list[Stimulus]:
    """Training stimuli for the given PVSs (None: ``source`` itself)."""
    role = StimulusRole.TRAINING
    if not method.paired:
        return [single(study, role, p.source if p else source, p) for p in pvs]
    return [pair(study, role, p.source if p else source, p, None) for p in pvs]


def trap_stimulus(study: Study, method: RatingMethod, source: Source) -> Stimulus:
    """The trapping clip of ``method`` (its instruction rendered into ``source``), paired with
    the SRC for paired methods; rendered to the data directory now."""
    frames, fps = video.read_frames(Path(settings.DATA_DIR) / source.lossless_path)
    relative = f"studies/{study.name}/trap-{source.name}.mp4"
    video.write_browser_copy(Path(settings.DATA_DIR) / relative, render_instruction(frames, method.trap_text), fps)
    stimulus = (pair(study, StimulusRole.TRAP, source, None, None, [method.trap_score]) if method.paired
                else single(study, StimulusRole.TRAP, source, None, [method.trap_score]))
    stimulus.media_path = relative
    return stimulus
