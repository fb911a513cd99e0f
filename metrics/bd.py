"""BD-rate on a metric from the database: the per-SRC rate–distortion points of each curve. Selectors (reads only).

The curves are the HRCs' stored ``Hrc.curve`` (``metrics.selectors.rd_curves``,
the points the dashboard plots) and the numbers come from the Django-free
``metrics.bd_rate``; ``studies.mos_bd`` does the same on a study's MOS.
"""
from dataclasses import dataclass

from metrics.bd_rate import (
    CodecBd,
    bd_against_anchor,
    bd_over_sources,
    bd_text,
    curve_names,
)
from metrics.registry import all_metrics
from metrics.selectors import rd_curves_per_source
from qa_platform.core.models import Source


def source_rd_points(*, metric: str, sources: list[str] | None = None) -> dict[str, dict[str, tuple[list, list]]]:
    """Per SRC, per curve (``Hrc.curve``), the (kbit/s, pooled ``metric`` value) of each done PVS with the metric ok.

    ``sources``: SRC names to keep (all SRCs when ``None``). Built from
    ``rd_curves`` of each SRC (``rd_curves_per_source``), so BD numbers use exactly the plotted points.
    Raises ``ValueError`` naming the SRCs that do not exist.
    """
    per_source = rd_curves_per_source(metric=metric)
    chosen = Source.objects.order_by("name")
    if sources is not None:
        unknown = sorted(set(sources) - set(chosen.filter(name__in=sources).values_list("name", flat=True)))
        if unknown:
            names = ", ".join(chosen.values_list("name", flat=True))
            raise ValueError(f"no SRC named {', '.join(unknown)}; SRCs: {names}")
        chosen = chosen.filter(name__in=sources)
    return {
        source.name: {curve.name: ([p.kbps for p in curve.points], [p.value for p in curve.points])
                      for curve in per_source.get(source.name, [])}
        for source in chosen
    }


def codec_bd(*, metric: str, anchor: str, codecs: list[str] | None = None,
             sources: list[str] | None = None) -> list[CodecBd]:
    """BD-rate (percent) and BD-quality (the metric's unit) on ``metric`` of each curve in ``codecs``
    (default: every other curve with points) against the ``anchor`` curve, per SRC and as the mean over
    SRCs (``metrics.bd_rate.bd_against_anchor``). Curves are ``Hrc.curve`` names: ``x265``,
    ``landmark-warp key_period=10``.

    Raises ``ValueError`` for an unknown metric, or an anchor, curve or SRC without points.
    """
    spec = all_metrics().get(metric)
    if spec is None:
        raise ValueError(f"no metric named {metric!r}; metrics: {', '.join(all_metrics())}")
    return bd_against_anchor(source_rd_points(metric=metric, sources=sources), anchor=anchor, tests=codecs,
                             higher_is_better=spec.higher_is_better, points=f"done PVS with {spec.label}")


@dataclass(frozen=True)
class BdMatrix:
    """Mean BD-rate of every curve (rows) against every curve as anchor (columns), on one metric."""

    curves: list[str]
    cells: dict[tuple[str, str], CodecBd]

    def rows(self) -> list[tuple[str, list[CodecBd | None]]]:
        """(test curve, one cell per anchor, ``None`` on the diagonal)."""
        return [(test, [self.cells.get((test, anchor)) for anchor in self.curves]) for test in self.curves]


def bd_matrix(*, metric: str) -> BdMatrix:
    """The curve-by-anchor BD-rate matrix of ``metric`` over every SRC with points."""
    spec = all_metrics()[metric]
    points = source_rd_points(metric=metric)
    names = curve_names(points)
    cells = {
        (test, anchor): bd_over_sources(points, anchor=anchor, codec=test, higher_is_better=spec.higher_is_better)
        for test in names for anchor in names if test != anchor
    }
    return BdMatrix(names, cells)


def bd_report(*, metric: str, anchor: str, codecs: list[str] | None = None, sources: list[str] | None = None) -> str:
    """:func:`codec_bd` as the plain-text report of ``manage.py bd_rate``; ``ValueError`` as :func:`codec_bd`."""
    results = codec_bd(metric=metric, anchor=anchor, codecs=codecs, sources=sources)
    spec = all_metrics()[metric]
    return bd_text(results, label=spec.label, unit=spec.unit, higher_is_better=spec.higher_is_better,
                   decimals=spec.decimals)
