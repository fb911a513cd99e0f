"""BD-rate on MOS: a study's per-PVS MOS as the quality axis of metrics.bd_rate. Selectors (reads only).

Studies may read metrics, metrics never import studies: the per-SRC curves
(kbit/s, MOS) of each codec come from the study's analysis
(``studies.results.study_analysis``) and go to the same pure function as the
metric curves (``metrics.bd_rate.bd_over_sources``). MOS is on the ACR
1 to 5 scale, higher is better.
"""
import pandas as pd

from metrics.bd_rate import CodecBd, bd_over_sources, bd_text
from studies.models import Study
from studies.results import DEFAULT_MODEL, study_analysis


def mos_curves(pvs: pd.DataFrame) -> dict[str, dict[str, tuple[list[float], list[float]]]]:
    """Per SRC, per codec, (kbit/s, MOS) of each rated PVS, from a ``study_analysis(...).pvs`` table."""
    rated = pvs.dropna(subset=["kbps", "mos"]).sort_values(["src", "codec", "kbps"])
    return {
        src: {codec: (points["kbps"].tolist(), points["mos"].tolist()) for codec, points in by_src.groupby("codec")}
        for src, by_src in rated.groupby("src")
    }


def mos_bd(*, study: Study, anchor: str, codecs: list[str] | None = None,
           model: str = DEFAULT_MODEL) -> list[CodecBd]:
    """BD-rate and BD-MOS of each codec (default: every other rated codec) against ``anchor``, per SRC and mean.

    The MOS are the study's scores under subject ``model``. Raises
    ``ValueError`` for an anchor or codec without rated PVSs, and the
    analysis' own errors (``studies.results.NoVotesError``, a ``VotesError``).
    """
    curves = mos_curves(study_analysis(study, model=model).pvs)
    known = sorted({codec for by_codec in curves.values() for codec in by_codec})
    absent = [name for name in [anchor, *(codecs or [])] if name not in known]
    if absent:
        raise ValueError(f"study {study.name!r} has no rated PVS of {', '.join(absent)}; "
                         f"codecs rated: {', '.join(known) or 'none'}")
    tests = codecs if codecs is not None else [name for name in known if name != anchor]
    return [bd_over_sources(curves, anchor=anchor, codec=name) for name in tests]


def mos_bd_report(*, study: Study, anchor: str, codecs: list[str] | None = None,
                  model: str = DEFAULT_MODEL) -> str:
    """:func:`mos_bd` as plain text (``manage.py mos_bd_rate``); errors as :func:`mos_bd`."""
    return bd_text(mos_bd(study=study, anchor=anchor, codecs=codecs, model=model), label="MOS")
