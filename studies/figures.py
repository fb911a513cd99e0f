"""Plotly figures of the correlation dashboard, built from the per-PVS table.

Traces are rate–distortion curves (the table's ``curve``, the HRCs' stored
``Hrc.curve``), as on the metric pages. Every point is one PVS; its
``customdata`` is [PVS page URL, SRC, HRC, kbit/s, CI low, CI high] for the
hover text and for opening the PVS on click.
"""
from collections.abc import Callable

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from scipy import stats

from metrics.figures import as_dict
from metrics.registry import MetricSpec
from studies.correlation import LogisticFit

LAYOUT = {"template": "plotly_white", "hovermode": "closest", "margin": {"l": 70, "r": 20, "t": 30, "b": 60}}
HOVER = ("SRC: %{customdata[1]}<br>HRC: %{customdata[2]}<br>%{customdata[3]:.2f} kbit/s<br>"
         "%{y:.2f} [%{customdata[4]:.2f}, %{customdata[5]:.2f}]")


def _customdata(rows: pd.DataFrame, target: str, pvs_url: Callable[[int], str]) -> list[list]:
    return [
        [pvs_url(row.pvs_id), row.src, row.hrc, row.kbps,
         getattr(row, f"{target}_ci95_low"), getattr(row, f"{target}_ci95_high")]
        for row in rows.itertuples()
    ]


def _error_y(rows: pd.DataFrame, target: str) -> dict:
    return {"type": "data", "symmetric": False, "thickness": 1,
            "array": rows[f"{target}_ci95_high"] - rows[target],
            "arrayminus": rows[target] - rows[f"{target}_ci95_low"]}


def scatter_figure(table: pd.DataFrame, *, spec: MetricSpec, target: str, fit: LogisticFit | None,
                   pvs_url: Callable[[int], str], label: str = "") -> dict:
    """``target`` (a ``studies.results.METHOD_TARGETS`` column: MOS, DMOS, CMOS, scale value,
    with 95 % CIs; ``label`` names it, default its upper-case name) against one metric, one
    colour per curve, with the fitted 4-parameter logistic over the metric's range."""
    fig = go.Figure()
    for curve, rows in table.groupby("curve", sort=True):
        fig.add_trace(go.Scatter(
            x=rows[spec.name], y=rows[target], mode="markers", name=curve,
            marker={"size": 9}, error_y=_error_y(rows, target),
            customdata=_customdata(rows, target, pvs_url),
            hovertemplate=f"{spec.label}: %{{x:.4g}}<br>{HOVER}<extra>{curve}</extra>",
        ))
    values = table[spec.name].dropna()
    if fit is not None and len(values):
        x = np.linspace(values.min(), values.max(), 200)
        fig.add_trace(go.Scatter(x=x, y=fit.predict(x), mode="lines", name="logistic fit",
                                 line={"color": "#444", "dash": "dash"}, hoverinfo="skip"))
    fig.update_layout(**LAYOUT, height=480, legend_title_text="curve",
                      xaxis_title=f"{spec.label} ({spec.unit or 'unitless'}, "
                                  f"{'higher' if spec.higher_is_better else 'lower'} is better)",
                      yaxis_title=label or target.upper())
    return as_dict(fig)


def _hrc_means(table: pd.DataFrame, target: str) -> pd.DataFrame:
    """Per HRC: mean kbit/s and mean ``target`` over SRCs, with a Student-t 95 % CI across SRCs."""
    grouped = table.groupby(["curve", "hrc"])
    means = grouped.agg(kbps=("kbps", "mean"), value=(target, "mean"), sd=(target, "std"), n=(target, "count"))
    half = stats.t.ppf(0.975, np.maximum(means["n"] - 1, 1)) * means["sd"] / np.sqrt(means["n"])
    means[f"{target}_ci95_low"], means[f"{target}_ci95_high"] = means["value"] - half, means["value"] + half
    return means.reset_index().rename(columns={"value": target}).sort_values("kbps")


def rate_figure(table: pd.DataFrame, *, target: str, pvs_url: Callable[[int], str], label: str = "") -> dict:
    """``target`` (``label`` names it, default its upper-case name) against bitrate (kbit/s, log axis),
    one trace per curve.

    With one SRC each point is a PVS with its 95 % CI (click opens it); with
    several, each point is an HRC at its mean bitrate and mean ``target`` over
    the SRCs, with a Student-t 95 % CI across SRCs.
    """
    single = table["src"].nunique() == 1
    label = label or target.upper()
    points = table.sort_values("kbps") if single else _hrc_means(table, target)
    fig = go.Figure()
    for curve, rows in points.groupby("curve", sort=True):
        if single:
            extra = {"customdata": _customdata(rows, target, pvs_url),
                     "hovertemplate": f"{HOVER}<extra>{curve}</extra>"}
        else:
            extra = {"text": rows["hrc"], "customdata": rows["n"],
                     "hovertemplate": f"HRC: %{{text}}<br>%{{x:.2f}} kbit/s<br>mean {label} %{{y:.2f}} "
                                      f"over %{{customdata}} SRCs<extra>{curve}</extra>"}
        fig.add_trace(go.Scatter(x=rows["kbps"], y=rows[target], mode="lines+markers", name=curve,
                                 marker={"size": 9}, error_y=_error_y(rows, target), **extra))
    fig.update_layout(**LAYOUT, height=480, xaxis_type="log", xaxis_title="bitrate (kbit/s, log scale)",
                      yaxis_title=label if single else f"mean {label} over SRCs",
                      legend_title_text="curve")
    return as_dict(fig)
