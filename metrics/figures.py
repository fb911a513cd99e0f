"""Plotly figures of the metric pages: per-frame plots, rate–distortion curves, metric agreement.

Figures are built with plotly.graph_objects from what the selectors read and
returned as plain JSON dicts (:func:`as_dict`), which the pages hand to
``Plotly.newPlot``. The studies app builds its figures the same way.
"""
import json

import plotly.graph_objects as go
from django.urls import reverse
from plotly.subplots import make_subplots

from metrics.models import MetricStatus
from metrics.registry import MetricSpec, all_metrics
from metrics.selectors import Agreement, MetricRow, RdCurve, RdPoint


def as_dict(fig: go.Figure) -> dict:
    """A figure as a JSON-ready dict, through plotly's JSON encoder: numpy arrays become lists, NaN null."""
    return json.loads(fig.to_json())


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
                hovertemplate=f"frame %{{x}}: %{{y:.{row.spec.decimals}f}}<extra>{row.spec.label}</extra>",
            ),
            row=index, col=1,
        )
    fig.update_xaxes(title_text="frame", row=len(rows), col=1)
    fig.update_layout(
        template="plotly_white", showlegend=False, height=40 + 150 * len(rows),
        margin={"l": 60, "r": 20, "t": 40, "b": 50},
    )
    return as_dict(fig)


def _per_frame_title(spec: MetricSpec) -> str:
    """What a per-frame curve shows: the metric, or what its per-frame values are when it pools itself."""
    if spec.frame_values:
        return f"{spec.label}: per frame, {spec.frame_values} (0 = agreement)"
    return f"{spec.axis_title}, {spec.direction}"


def _hover_data(point: RdPoint) -> list[str]:
    source = point.source or f"mean over {point.n_sources} SRCs"
    url = reverse("metrics:pvs", args=[point.pvs_id]) if point.pvs_id else ""
    return [source, point.hrc, url]


def rd_figure(*, spec: MetricSpec, curves: list[RdCurve]) -> dict:
    """The rate–distortion plot: x kbit/s, y the metric, one trace per curve (``Hrc.curve``).

    Each point's ``customdata`` is [SRC, HRC, PVS page URL or ""], for the
    hover text and for opening the PVS on click.
    """
    value_format = f"%{{y:.{spec.decimals}f}} {spec.unit}".rstrip()
    fig = go.Figure()
    for curve in curves:
        fig.add_trace(go.Scatter(
            x=[point.kbps for point in curve.points],
            y=[point.value for point in curve.points],
            customdata=[_hover_data(point) for point in curve.points],
            mode="lines+markers", name=curve.name, marker={"size": 9},
            hovertemplate=(
                "SRC: %{customdata[0]}<br>HRC: %{customdata[1]}<br>"
                f"%{{x:.2f}} kbit/s<br>{spec.label}: {value_format}<extra>{curve.name}</extra>"
            ),
        ))
    fig.update_layout(
        template="plotly_white", height=520, hovermode="closest", legend_title_text="curve",
        xaxis_title="bitrate (kbit/s)", yaxis_title=f"{spec.axis_title}, {spec.direction}",
        margin={"l": 70, "r": 20, "t": 30, "b": 60},
    )
    return as_dict(fig)


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
    return as_dict(fig)
