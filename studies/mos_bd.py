"""BD-rate on MOS: a study's per-PVS MOS as the quality axis of metrics.bd_rate. Selectors (reads only).

Studies may read metrics, metrics never import studies: the per-SRC curves
(kbit/s, MOS) of each rate–distortion curve (the HRCs' stored ``Hrc.curve``,
as BD-rate on metrics groups them) come from the study's analysis
(``studies.results.study_analysis``) and go to the same function as the
metric curves (``metrics.bd_rate.bd_against_anchor``). MOS is on the ACR
1 to 5 scale, higher is better.
"""
import pandas as pd

from metrics.bd_rate import CodecBd, bd_against_anchor, bd_text
from studies.models import Study
from studies.results import DEFAULT_MODEL, study_analysis


def mos_curves(pvs: pd.DataFrame) -> dict[str, dict[str, tuple[list[float], list[float]]]]:
    """Per SRC, per curve, (kbit/s, MOS) of each rated PVS, from a ``study_analysis(...).pvs`` table."""
    rated = pvs.dropna(subset=["kbps", "mos"]).sort_values(["src", "curve", "kbps"])
    return {
        src: {curve: (points["kbps"].tolist(), points["mos"].tolist()) for curve, points in by_src.groupby("curve")}
        for src, by_src in rated.groupby("src")
    }


def mos_bd(*, study: Study, anchor: str, codecs: list[str] | None = None,
           model: str = DEFAULT_MODEL) -> list[CodecBd]:
    """BD-rate (percent) and BD-MOS of each curve in ``codecs`` (default: every other rated curve) against
    the ``anchor`` curve, per SRC and mean. Curves are ``Hrc.curve`` names: ``x265``, ``landmark-warp key_period=10``.

    The MOS are the study's scores under subject ``model``. Raises
    ``ValueError`` for an anchor or curve without rated PVSs, and the
    analysis' own errors (``studies.results.NoVotesError``, a ``VotesError``).
    """
    curves = mos_curves(study_analysis(study, model=model).pvs)
    return bd_against_anchor(curves, anchor=anchor, tests=codecs, points=f"rated PVS of study {study.name!r}")


def mos_bd_report(*, study: Study, anchor: str, codecs: list[str] | None = None,
                  model: str = DEFAULT_MODEL) -> str:
    """:func:`mos_bd` as plain text (``manage.py mos_bd_rate``); errors as :func:`mos_bd`."""
    return bd_text(mos_bd(study=study, anchor=anchor, codecs=codecs, model=model), label="MOS")
