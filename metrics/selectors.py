"""Reads of metric results: the per-PVS table, per-frame plots, rate–distortion curves and BD-rates.

Figures are built here with plotly.graph_objects and returned as plain JSON
dicts, which the pages hand to ``Plotly.newPlot``.
"""
import json
from collections import defaultdict
from dataclasses import dataclass
from itertools import groupby
from operator import attrgetter
from pathlib import Path
from statistics import mean

import pandas as pd
import plotly.graph_objects as go
from django.conf import settings
from django.db.models import Count, QuerySet
from django.http import Http404
from django.urls import reverse
from plotly.subplots import make_subplots

from metrics import pictures
from metrics.bd_rate import CodecBd, bd_over_sources, bd_text
from metrics.models import MetricResult, MetricStatus
from metrics.registry import MetricSpec, all_metrics
from qa_platform import codec_registry
from qa_platform.codec_api import CodecError
from qa_platform.models import JobStatus, Pvs, Source
from qa_platform.video import read_frames


def get_metric_or_404(name: str | None) -> MetricSpec:
    """The registered metric called ``name`` (the first registered one when
    ``name`` is empty); ``Http404`` when no metric has that name."""
    metrics = all_metrics()
    if not name:
        return next(iter(metrics.values()))
    if name not in metrics:
        raise Http404(f"No metric named {name!r}.")
    return metrics[name]


def value_decimals(spec: MetricSpec) -> int:
    """Decimals worth showing: 2 on wide scales (dB, pixels), 4 on unit-range ones."""
    low, high = spec.value_range
    return 2 if high - low > 10 else 4


def direction(spec: MetricSpec) -> str:
    """``↑ higher is better`` or ``↓ lower is better``."""
    return "↑ higher is better" if spec.higher_is_better else "↓ lower is better"


def axis_title(spec: MetricSpec) -> str:
    """The metric's label with its unit, e.g. ``PSNR (RGB) (dB)``."""
    return f"{spec.label} ({spec.unit})" if spec.unit else spec.label


@dataclass(frozen=True)
class MetricRow:
    """One registered metric and its result on a PVS (``None``: not computed yet)."""

    spec: MetricSpec
    result: MetricResult | None

    @property
    def decimals(self) -> int:
        return value_decimals(self.spec)

    @property
    def direction(self) -> str:
        return direction(self.spec)


def pvs_metric_rows(*, pvs: Pvs) -> list[MetricRow]:
    """One row per registered metric, in registry order, with its result on ``pvs``."""
    results = {result.metric: result for result in pvs.metric_results.all()}
    return [MetricRow(spec, results.get(name)) for name, spec in all_metrics().items()]


def per_frame_figure(*, rows: list[MetricRow]) -> dict | None:
    """One small per-frame plot per row whose result has per-frame values; ``None`` when none has."""
    rows = [
        row for row in rows
        if row.result and row.result.status == MetricStatus.OK and len(row.result.per_frame)
    ]
    if not rows:
        return None
    fig = make_subplots(
        rows=len(rows), cols=1, shared_xaxes=True, vertical_spacing=0.25 / len(rows),
        subplot_titles=[_per_frame_title(row.spec) for row in rows],
    )
    for index, row in enumerate(rows, start=1):
        fig.add_trace(
            go.Scatter(
                # Markers show which frames have a value (AED samples every 5th frame).
                y=row.result.per_frame.tolist(), mode="lines+markers", marker={"size": 4},
                connectgaps=True, name=row.spec.label,
                hovertemplate=f"frame %{{x}}: %{{y:.{row.decimals}f}}<extra>{row.spec.label}</extra>",
            ),
            row=index, col=1,
        )
    fig.update_xaxes(title_text="frame", row=len(rows), col=1)
    fig.update_layout(
        template="plotly_white", showlegend=False, height=40 + 150 * len(rows),
        margin={"l": 60, "r": 20, "t": 40, "b": 50},
    )
    return _as_dict(fig)


def _per_frame_title(spec: MetricSpec) -> str:
    """What a per-frame curve shows: the metric, or what its per-frame values are when it pools itself."""
    if spec.frame_values:
        return f"{spec.label}: per frame, {spec.frame_values} (0 = agreement)"
    return f"{axis_title(spec)}, {direction(spec)}"


@dataclass(frozen=True)
class RdPoint:
    """One point of a rate–distortion curve: a PVS, or the mean over the SRCs of one HRC."""

    codec: str
    hrc: str
    kbps: float
    value: float
    n_sources: int
    source: str = ""
    pvs_id: int | None = None


@dataclass(frozen=True)
class RdCurve:
    """The points of one codec, lowest kbit/s first."""

    codec: str
    points: list[RdPoint]

    @property
    def sources_text(self) -> str:
        """How many SRCs a point averages: ``1 SRC``, ``3 SRCs``, or ``2–3 SRCs`` where HRCs differ."""
        counts = sorted({point.n_sources for point in self.points})
        if counts == [1]:
            return "1 SRC"
        return f"{counts[0]} SRCs" if len(counts) == 1 else f"{counts[0]}–{counts[-1]} SRCs"


@dataclass(frozen=True)
class Exclusion:
    """PVSs that are not in a rate–distortion plot, and why."""

    count: int
    why: str


def _ok_results(metric: str, source: Source | None) -> QuerySet[MetricResult]:
    results = MetricResult.objects.filter(
        metric=metric, status=MetricStatus.OK, value__isnull=False,
        pvs__status=JobStatus.DONE, pvs__kbps__isnull=False,
    ).select_related("pvs__source", "pvs__hrc")
    return results if source is None else results.filter(pvs__source=source)


def _pvs_point(result: MetricResult, curve: str) -> RdPoint:
    pvs = result.pvs
    return RdPoint(
        codec=curve, hrc=pvs.hrc.label, kbps=pvs.kbps, value=result.value,
        n_sources=1, source=pvs.source.name, pvs_id=pvs.pk,
    )


def _curve_names(hrcs) -> dict[int, str]:
    """Curve name (``Codec.curve_name``) by HRC id; an HRC whose codec is gone keeps its codec name."""
    codecs = codec_registry.load_codecs()  # once, not per HRC: it checks every plugin file
    names = {}
    for hrc in hrcs:
        if hrc.pk not in names:
            try:
                names[hrc.pk] = codecs[hrc.codec]().curve_name(hrc.params)
            except (KeyError, CodecError):
                names[hrc.pk] = hrc.codec
    return names


def _mean_points(results: list[MetricResult], curves: dict[int, str]) -> list[RdPoint]:
    by_hrc = defaultdict(list)
    for result in results:
        by_hrc[result.pvs.hrc].append(result)
    return [
        RdPoint(
            codec=curves[hrc.pk], hrc=hrc.label,
            kbps=mean(result.pvs.kbps for result in group),
            value=mean(result.value for result in group),
            n_sources=len(group),
        )
        for hrc, group in by_hrc.items()
    ]


def rd_curves(*, metric: str, source: Source | None = None) -> list[RdCurve]:
    """Rate–distortion curves of ``metric``, one per codec variant (``Codec.curve_name``: a codec with
    other non-rate parameters or decode-time controls is a curve of its own), sorted by name.

    With a ``source``, a point is one PVS of that SRC. Without, a point is one
    HRC: mean kbit/s and mean metric value over the SRCs where that HRC's PVS
    is done and the metric is ok.
    """
    results = list(_ok_results(metric, source))
    curves = _curve_names(result.pvs.hrc for result in results)
    points = ([_pvs_point(result, curves[result.pvs.hrc_id]) for result in results] if source
              else _mean_points(results, curves))
    points.sort(key=attrgetter("codec", "kbps"))
    return [RdCurve(codec, list(group)) for codec, group in groupby(points, key=attrgetter("codec"))]


def rd_exclusions(*, metric: str, source: Source | None = None) -> list[Exclusion]:
    """The PVSs a rate–distortion plot of ``metric`` leaves out, counted by reason:
    jobs not done, results unavailable or failed (with their reason), results not computed yet."""
    pvs = Pvs.objects.all() if source is None else source.pvs_set.all()
    done = pvs.filter(status=JobStatus.DONE)
    not_done = pvs.exclude(status=JobStatus.DONE).values("status").annotate(n=Count("id")).order_by("status")
    not_ok = (
        MetricResult.objects.filter(metric=metric, pvs__in=done).exclude(status=MetricStatus.OK)
        .values("status", "reason").annotate(n=Count("id")).order_by("-n", "reason")
    )
    not_computed = done.exclude(metric_results__metric=metric).count()
    return (
        [Exclusion(row["n"], f"PVS {row['status']}") for row in not_done]
        + [Exclusion(row["n"], f"metric {row['status']}: {row['reason']}") for row in not_ok]
        + ([Exclusion(not_computed, "metric not computed yet")] if not_computed else [])
    )


def _hover_data(point: RdPoint) -> list[str]:
    source = point.source or f"mean over {point.n_sources} SRCs"
    url = reverse("metrics:pvs", args=[point.pvs_id]) if point.pvs_id else ""
    return [source, point.hrc, url]


def rd_figure(*, spec: MetricSpec, curves: list[RdCurve]) -> dict:
    """The rate–distortion plot: x kbit/s, y the metric, one trace per curve.

    Each point's ``customdata`` is [SRC, HRC, PVS page URL or ""], for the
    hover text and for opening the PVS on click.
    """
    value_format = f"%{{y:.{value_decimals(spec)}f}} {spec.unit}".rstrip()
    fig = go.Figure()
    for curve in curves:
        fig.add_trace(go.Scatter(
            x=[point.kbps for point in curve.points],
            y=[point.value for point in curve.points],
            customdata=[_hover_data(point) for point in curve.points],
            mode="lines+markers", name=curve.codec, marker={"size": 9},
            hovertemplate=(
                "SRC: %{customdata[0]}<br>HRC: %{customdata[1]}<br>"
                f"%{{x:.2f}} kbit/s<br>{spec.label}: {value_format}<extra>{curve.codec}</extra>"
            ),
        ))
    fig.update_layout(
        template="plotly_white", height=520, hovermode="closest", legend_title_text="codec",
        xaxis_title="bitrate (kbit/s)", yaxis_title=f"{axis_title(spec)}, {direction(spec)}",
        margin={"l": 70, "r": 20, "t": 30, "b": 60},
    )
    return _as_dict(fig)


def _as_dict(fig: go.Figure) -> dict:
    # Through plotly's JSON encoder: numpy arrays become lists, NaN becomes null.
    return json.loads(fig.to_json())


@dataclass(frozen=True)
class Agreement:
    """Spearman rank correlation between every pair of metrics over the PVSs
    that have both (``rho``, ``n``: square lists in ``names`` order), with
    each metric oriented so that higher is better (a lower-is-better metric is
    negated): +1 means two metrics rank the PVSs alike."""

    names: list[str]
    rho: list[list[float | None]]
    n: list[list[int]]


def metric_agreement() -> Agreement:
    """The agreement of every metric with a value on at least 3 PVSs."""
    specs = all_metrics()
    rows = MetricResult.objects.filter(status=MetricStatus.OK, metric__in=specs).values_list(
        "pvs_id", "metric", "value")
    frame = pd.DataFrame(list(rows), columns=["pvs_id", "metric", "value"])
    wide = frame.pivot(index="pvs_id", columns="metric", values="value")
    names = [name for name in specs if name in wide and wide[name].count() >= 3]
    oriented = wide[names] * [1.0 if specs[name].higher_is_better else -1.0 for name in names]
    # Pairwise-complete: each pair is ranked over the PVSs that have both, as scipy.stats.spearmanr on them.
    rho = oriented.corr(method="spearman", min_periods=3).to_numpy()
    present = oriented.notna().to_numpy(dtype=int)
    return Agreement(names=names, rho=[[None if r != r else float(r) for r in row] for row in rho],
                     n=(present.T @ present).tolist())


def agreement_figure(agreement: Agreement) -> dict:
    """A heatmap of ``agreement.rho`` (-1 blue, +1 red), each cell telling rho and n."""
    specs = all_metrics()
    labels = [specs[name].label for name in agreement.names]
    fig = go.Figure(go.Heatmap(
        z=agreement.rho, x=labels, y=labels, zmin=-1, zmax=1, colorscale="RdBu_r",
        customdata=agreement.n, texttemplate="%{z:.2f}",
        hovertemplate="%{y} vs %{x}<br>Spearman rho %{z:.3f} over %{customdata} PVSs<extra></extra>",
        colorbar={"title": "rho"},
    ))
    fig.update_layout(template="plotly_white", height=140 + 42 * len(labels), yaxis_autorange="reversed",
                      margin={"l": 160, "r": 20, "t": 20, "b": 120})
    return _as_dict(fig)


PICTURE_KINDS = ("reference", "distorted", "landmarks", "face_region", *pictures.MAP_KINDS)


def pvs_picture(*, pvs: Pvs, index: int, kind: str) -> bytes:
    """PNG of frame ``index`` (0-based) of a PVS: the SRC frame, the PVS frame,
    the landmarks overlay, the face region or a distortion map (``PICTURE_KINDS``).

    Raises ``Http404`` for an unknown kind, a frame out of range or a PVS not
    decoded yet, and ``WeightsMissingError`` for the LPIPS map without weights.
    """
    if kind not in PICTURE_KINDS or not pvs.decoded_path or not 0 <= index < pvs.source.frame_count:
        raise Http404(f"no {kind} picture of frame {index} of PVS {pvs.pk}")
    data = Path(settings.DATA_DIR)
    reference = read_frames(data / pvs.source.lossless_path)[0]
    distorted = read_frames(data / pvs.decoded_path, max_frames=index + 1)[0][index]
    if kind == "reference":
        return pictures.png(reference[index])
    if kind == "distorted":
        return pictures.png(distorted)
    if kind in ("landmarks", "face_region"):
        from metrics.kernels.face import face_masks
        from metrics.services import source_reference_faces  # reads (or fills) the SRC's face cache

        faces = source_reference_faces(source=pvs.source, frames=reference)
        if kind == "face_region":
            return pictures.png(pictures.face_region_overlay(distorted, face_masks(faces, distorted.shape[:2])[index]))
        return pictures.png(pictures.landmarks_overlay(distorted, faces.landmarks[index], faces.boxes[index]))
    return pictures.png(pictures.MAPS[kind](distorted, reference[index]))


def source_rd_points(*, metric: str, sources: list[str] | None = None) -> dict[str, dict[str, tuple[list, list]]]:
    """Per SRC, per codec, the (kbit/s, pooled ``metric`` value) of each done PVS with the metric ok.

    ``sources``: SRC names to keep (all SRCs when ``None``). Built from
    :func:`rd_curves` of each SRC, so BD numbers use exactly the plotted points.
    Raises ``ValueError`` naming the SRCs that do not exist.
    """
    chosen = Source.objects.order_by("name")
    if sources is not None:
        unknown = sorted(set(sources) - set(chosen.filter(name__in=sources).values_list("name", flat=True)))
        if unknown:
            names = ", ".join(chosen.values_list("name", flat=True))
            raise ValueError(f"no SRC named {', '.join(unknown)}; SRCs: {names}")
        chosen = chosen.filter(name__in=sources)
    return {
        source.name: {curve.codec: ([p.kbps for p in curve.points], [p.value for p in curve.points])
                      for curve in rd_curves(metric=metric, source=source)}
        for source in chosen
    }


def _codecs_in(curves: dict[str, dict]) -> list[str]:
    return sorted({codec for by_codec in curves.values() for codec in by_codec})


def codec_bd(*, metric: str, anchor: str, codecs: list[str] | None = None,
             sources: list[str] | None = None) -> list[CodecBd]:
    """BD-rate and BD-quality on ``metric`` of each codec (default: every other codec with points)
    against ``anchor``, per SRC and as the mean over SRCs (metrics.bd_rate.bd_over_sources).

    Raises ``ValueError`` for an unknown metric, or an anchor, codec or SRC without points.
    """
    spec = all_metrics().get(metric)
    if spec is None:
        raise ValueError(f"no metric named {metric!r}; metrics: {', '.join(all_metrics())}")
    curves = source_rd_points(metric=metric, sources=sources)
    known = _codecs_in(curves)
    absent = [name for name in [anchor, *(codecs or [])] if name not in known]
    if absent:
        raise ValueError(f"no done PVS of {', '.join(absent)} has {spec.label}; codecs with it: "
                         f"{', '.join(known) or 'none'}")
    tests = codecs if codecs is not None else [name for name in known if name != anchor]
    return [bd_over_sources(curves, anchor=anchor, codec=name, higher_is_better=spec.higher_is_better)
            for name in tests]


@dataclass(frozen=True)
class BdMatrix:
    """Mean BD-rate of every codec (rows) against every codec as anchor (columns), on one metric."""

    codecs: list[str]
    cells: dict[tuple[str, str], CodecBd]

    def rows(self) -> list[tuple[str, list[CodecBd | None]]]:
        """(test codec, one cell per anchor, ``None`` on the diagonal)."""
        return [(test, [self.cells.get((test, anchor)) for anchor in self.codecs]) for test in self.codecs]


def bd_matrix(*, metric: str) -> BdMatrix:
    """The codec-by-anchor BD-rate matrix of ``metric`` over every SRC with points."""
    spec = all_metrics()[metric]
    curves = source_rd_points(metric=metric)
    codecs = _codecs_in(curves)
    cells = {
        (test, anchor): bd_over_sources(curves, anchor=anchor, codec=test, higher_is_better=spec.higher_is_better)
        for test in codecs for anchor in codecs if test != anchor
    }
    return BdMatrix(codecs, cells)


def bd_report(*, metric: str, anchor: str, codecs: list[str] | None = None, sources: list[str] | None = None) -> str:
    """:func:`codec_bd` as the plain-text report of ``manage.py bd_rate``; ``ValueError`` as :func:`codec_bd`."""
    results = codec_bd(metric=metric, anchor=anchor, codecs=codecs, sources=sources)
    spec = all_metrics()[metric]
    return bd_text(results, label=spec.label, unit=spec.unit, higher_is_better=spec.higher_is_better,
                   decimals=value_decimals(spec))
