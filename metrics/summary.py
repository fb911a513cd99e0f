"""The rate–distortion summary table: one row per codec and rate point (HRC)."""
import textwrap
from collections import defaultdict
from pathlib import Path

import pandas as pd

from metrics.models import MetricResult, MetricStatus
from metrics.registry import all_metrics, get_metric
from qa_platform.codec.storage import atomic_path
from qa_platform.core.models import Hrc, JobStatus, Pvs


def rd_summary_rows() -> list[dict]:
    """Per HRC with at least one done PVS: codec, label, number of those PVSs, mean kbit/s and,
    per metric, the mean over those PVSs (None when no PVS has a value) and the
    reason when the metric was unavailable everywhere."""
    done = Pvs.objects.filter(status=JobStatus.DONE)
    results = defaultdict(list)
    reasons = {}
    for result in MetricResult.objects.filter(pvs__in=done).values("pvs__hrc_id", "metric", "status", "value", "reason"):
        if result["status"] == MetricStatus.OK:
            results[result["pvs__hrc_id"], result["metric"]].append(result["value"])
        else:
            reasons.setdefault((result["pvs__hrc_id"], result["metric"]), f"{result['status']}: {result['reason']}")
    rows = []
    for hrc in Hrc.objects.filter(pvs_set__in=done).distinct():
        rates = [pvs.kbps for pvs in done.filter(hrc=hrc)]
        row = {"codec": hrc.codec, "hrc": hrc.label, "pvs_count": len(rates), "kbps": sum(rates) / len(rates),
               "metrics": {}, "reasons": {}}
        for name in all_metrics():
            values = results.get((hrc.pk, name), [])
            row["metrics"][name] = sum(values) / len(values) if values else None
            if not values and (hrc.pk, name) in reasons:
                row["reasons"][name] = reasons[hrc.pk, name]
        rows.append(row)
    return sorted(rows, key=lambda row: (row["codec"], row["kbps"]))


# The metrics of the compact table (rd_summary, the demo): pixel fidelity, structure, the perceptual
# reference (VMAF) and a learned one (DISTS), then what matters on a face: identity and motion (landmarks).
COMPACT_METRICS = ("psnr_y", "ms_ssim", "vmaf", "dists", "id_sim", "akd")
# Characters a line of the compact table may take (a terminal's width).
TABLE_WIDTH = 100
# A metric without any value in the printed table.
NOT_AVAILABLE = "n/a"


def metric_column(name: str) -> str:
    """The column header of metric ``name``: its name and unit (``psnr_y dB``, ``vmaf``)."""
    return f"{name} {get_metric(name).unit}".strip()


def pvs_summary_rows() -> list[dict]:
    """Per done PVS: codec, HRC label, SRC name, PVS id, kbit/s and, per metric, its stored value
    (``MetricResult.value``; None when the metric has no value for that PVS)."""
    values = defaultdict(dict)
    ok = MetricResult.objects.filter(pvs__status=JobStatus.DONE, status=MetricStatus.OK)
    for pvs_id, metric, value in ok.values_list("pvs_id", "metric", "value"):
        values[pvs_id][metric] = value
    done = Pvs.objects.filter(status=JobStatus.DONE).select_related("hrc", "source")
    rows = [
        {"codec": pvs.hrc.codec, "hrc": pvs.hrc.label, "src": pvs.source.name, "pvs_id": pvs.pk, "kbps": pvs.kbps,
         "metrics": {name: values[pvs.pk].get(name) for name in all_metrics()}}
        for pvs in done
    ]
    return sorted(rows, key=lambda row: (row["codec"], row["hrc"], row["src"]))


def _hrc_frame(rows: list[dict], names: list[str]) -> pd.DataFrame:
    """``rd_summary_rows`` as a table: codec, rate point (the HRC label without the codec's name), PVS count,
    kbit/s and one column per metric of ``names`` (headers by ``metric_column``), NaN where it has no value."""
    return pd.DataFrame(
        [[row["codec"], _rate_point(row), row["pvs_count"], row["kbps"]] + [row["metrics"][name] for name in names]
         for row in rows],
        columns=["codec", "rate point", "PVSs", "kbit/s"] + [metric_column(name) for name in names],
    ).astype({metric_column(name): float for name in names})


def _rate_point(row: dict) -> str:
    """The HRC label of ``row`` without its codec's name (``qp=37`` for ``x265 qp=37``)."""
    return row["hrc"].removeprefix(row["codec"]).strip()


def rd_summary_text(metrics: tuple[str, ...] = COMPACT_METRICS, width: int = TABLE_WIDTH) -> str:
    """``rd_summary_rows`` for ``metrics`` as a plain-text table of lines at most ``width`` characters
    (columns that do not fit go on in blocks below, each with codec, rate point, PVSs and kbit/s), then
    the direction of each metric and why a metric had no value."""
    specs = {name: get_metric(name) for name in metrics}
    rows = rd_summary_rows()
    frame = _hrc_frame(rows, list(metrics))
    frame["kbit/s"] = frame["kbit/s"].map("{:.1f}".format)
    for name in metrics:
        frame[metric_column(name)] = frame[metric_column(name)].map(
            lambda value: NOT_AVAILABLE if pd.isna(value) else format(value, ".4g"))
    higher = [name for name in metrics if specs[name].higher_is_better]
    notes = [f"Higher is better: {', '.join(higher)}; lower is better: "
             f"{', '.join(name for name in metrics if name not in higher)}."]
    unavailable = {}
    for row in rows:
        for name, reason in row["reasons"].items():
            if name in specs:
                unavailable.setdefault(name, reason)
    notes += [f"{name} {NOT_AVAILABLE}: {reason}" for name, reason in unavailable.items()]
    wrap = textwrap.TextWrapper(width, subsequent_indent="  ", break_long_words=False, break_on_hyphens=False)
    return "\n".join(_text_table(frame, width) + [line for note in notes for line in wrap.wrap(note)])


# The columns repeated in every block of the text table (codec, rate point, PVSs, kbit/s); the first two are text.
KEY_COLUMNS = 4
# The narrowest the rate point column gets to leave room for the metric columns (longer labels end in "…").
RATE_POINT_MIN_WIDTH = 16
COLUMN_GAP = "  "


def _text_table(frame: pd.DataFrame, width: int) -> list[str]:
    """``frame`` (string cells) as lines of at most ``width`` characters: text left-aligned, numbers right-aligned."""
    cells = [list(frame.columns)] + [list(map(str, row)) for row in frame.itertuples(index=False)]
    widths = [max(len(row[column]) for row in cells) for column in range(len(frame.columns))]
    gaps = len(COLUMN_GAP) * (len(widths) - 1)
    widths[1] = min(widths[1], max(RATE_POINT_MIN_WIDTH, width - (sum(widths) - widths[1] + gaps)))
    keys_width = sum(widths[:KEY_COLUMNS]) + len(COLUMN_GAP) * (KEY_COLUMNS - 1)
    blocks, used = [[]], keys_width
    for column in range(KEY_COLUMNS, len(widths)):
        if blocks[-1] and used + len(COLUMN_GAP) + widths[column] > width:
            blocks.append([])
            used = keys_width
        blocks[-1].append(column)
        used += len(COLUMN_GAP) + widths[column]
    lines = []
    for block in blocks:
        lines += [COLUMN_GAP.join(_cell(row[column], widths[column], left=column < 2)
                                  for column in [*range(KEY_COLUMNS), *block]).rstrip() for row in cells]
        lines.append("")
    return lines


def _cell(text: str, width: int, *, left: bool) -> str:
    """``text`` padded to ``width`` (cut with "…" when longer)."""
    text = text if len(text) <= width else text[:width - 1] + "…"
    return text.ljust(width) if left else text.rjust(width)


def rd_summary_csv(path: Path) -> Path:
    """Write every metric of every HRC (means: ``rd_summary_rows``, ``src`` and ``pvs_id`` empty) and of every
    done PVS (``pvs_summary_rows``, ``PVSs`` 1) to the CSV file ``path``, atomically; return ``path``.

    Metric columns by ``metric_column`` (name and unit), empty where a metric has no value.
    """
    hrcs = _hrc_frame(rd_summary_rows(), list(all_metrics()))
    hrcs.insert(2, "src", "")
    hrcs.insert(3, "pvs_id", pd.NA)
    pvs_rows = pvs_summary_rows()
    pvss = pd.DataFrame(
        [[row["codec"], _rate_point(row), row["src"], row["pvs_id"], 1, row["kbps"]]
         + list(row["metrics"].values()) for row in pvs_rows],
        columns=hrcs.columns,
    )
    table = pd.concat([hrcs, pvss], ignore_index=True) if pvs_rows else hrcs
    table["pvs_id"] = table["pvs_id"].astype("Int64")
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)
    return Path(path)
