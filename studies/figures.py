"""Plotly figures of the correlation dashboard, built from the per-PVS table.

Every point is one PVS; its ``customdata`` is [PVS page URL, SRC, HRC,
kbit/s, CI low, CI high] for the hover text and for opening the PVS on click.
"""
import json
from collections.abc import Callable

import numpy as np
import pandas as pd
import plotly.graph_objects as go

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
                   pvs_url: Callable[[int], str]) -> dict:
    """``target`` (MOS or DMOS, with 95 % CIs) against one metric, one colour per
    codec, with the fitted 4-parameter logistic over the metric's range."""
    fig = go.Figure()
    for codec, rows in table.groupby("codec", sort=True):
        fig.add_trace(go.Scatter(
            x=rows[spec.name], y=rows[target], mode="markers", name=codec,
            marker={"size": 9}, error_y=_error_y(rows, target),
            customdata=_customdata(rows, target, pvs_url),
            hovertemplate=f"{spec.label}: %{{x:.4g}}<br>{HOVER}<extra>{codec}</extra>",
        ))
    values = table[spec.name].dropna()
    if fit is not None and len(values):
        x = np.linspace(values.min(), values.max(), 200)
        fig.add_trace(go.Scatter(x=x, y=fit.predict(x), mode="lines", name="logistic fit",
                                 line={"color": "#444", "dash": "dash"}, hoverinfo="skip"))
    fig.update_layout(**LAYOUT, height=480, legend_title_text="codec",
                      xaxis_title=f"{spec.label} ({spec.unit or 'unitless'}, "
                                  f"{'higher' if spec.higher_is_better else 'lower'} is better)",
                      yaxis_title=target.upper())
    return _as_dict(fig)


def rate_figure(table: pd.DataFrame, *, target: str, pvs_url: Callable[[int], str]) -> dict:
    """``target`` with 95 % CIs against bitrate (kbit/s, log axis), one curve per codec and SRC."""
    fig = go.Figure()
    for (codec, src), rows in table.sort_values("kbps").groupby(["codec", "src"], sort=True):
        fig.add_trace(go.Scatter(
            x=rows["kbps"], y=rows[target], mode="lines+markers", name=f"{codec} · {src}",
            legendgroup=codec, marker={"size": 8}, error_y=_error_y(rows, target),
            customdata=_customdata(rows, target, pvs_url),
            hovertemplate=f"{HOVER}<extra>{codec}</extra>",
        ))
    fig.update_layout(**LAYOUT, height=480, xaxis_type="log", xaxis_title="bitrate (kbit/s, log scale)",
                      yaxis_title=target.upper(), legend_title_text="codec · SRC")
    return _as_dict(fig)


def _as_dict(fig: go.Figure) -> dict:
    # Through plotly's JSON encoder: numpy arrays become lists, NaN becomes null.
    return json.loads(fig.to_json())
