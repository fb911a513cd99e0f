"""The results of a set of common test conditions, in the layout of the JVET GFVC reporting template. Selectors.

One row per curve (``Hrc.curve``: a codec at one setting of the parameters
the conditions leave free), sequence (SRC) and rate point, lowest rate
first, the anchor's rows first: kbit/s, then the metrics the conditions name, then ours
(``TestConditions.extra_metrics``). Below: BD-rate (percent) of every codec
against the anchor per sequence and their average, on each metric, from these
rows alone (PCHIP of log rate against quality, as ``metrics.bd_rate``).
A metric that is missing for a PVS (not computed yet, unavailable) is an empty
cell, with the reason in ``ConditionsReport.reasons``.
"""
import csv
import io
from collections import defaultdict
from dataclasses import dataclass

from metrics.bd_rate import CodecBd, bd_over_sources
from metrics.models import MetricResult, MetricStatus
from metrics.registry import all_metrics
from qa_platform.core.conditions import TestConditions, conditions_hrcs
from qa_platform.core.models import JobStatus, Pvs


@dataclass(frozen=True)
class ConditionsRow:
    codec: str  # the curve: codec name and its fixed settings
    sequence: str
    frames: int
    rate_point: str
    params: dict
    pvs_id: int
    status: str
    kbps: float | None
    values: dict[str, float | None]


@dataclass(frozen=True)
class ConditionsReport:
    conditions: TestConditions
    metrics: tuple[str, ...]
    rows: list[ConditionsRow]
    bd: dict[str, list[CodecBd]]  # metric -> one CodecBd per tested codec against the anchor
    reasons: dict[str, str]  # metric -> why some PVSs have no value

    @property
    def codecs(self) -> list[str]:
        return list(dict.fromkeys(row.codec for row in self.rows))

    @property
    def sequences(self) -> list[str]:
        return sorted({row.sequence for row in self.rows})

    @property
    def pending(self) -> int:
        return sum(row.status != JobStatus.DONE for row in self.rows)

    def table(self) -> list[tuple[ConditionsRow, list[float | None]]]:
        """Each row with its metric values in the order of ``metrics``."""
        return [(row, [row.values[name] for name in self.metrics]) for row in self.rows]

    def bd_table(self) -> list[tuple[str, CodecBd, list[float | None]]]:
        """(metric, the curve's BD against the anchor, its BD-rate per sequence of ``sequences``, None where none)."""
        table = []
        for metric, results in self.bd.items():
            for result in results:
                by_source = {source.source: source.rate for source in result.per_source}
                table.append((metric, result, [getattr(by_source.get(sequence), "value", None)
                                               for sequence in self.sequences]))
        return table


def conditions_report(conditions: TestConditions) -> ConditionsReport:
    """The report of every PVS of ``conditions`` that exists (see the module docstring)."""
    specs = all_metrics()
    metrics = tuple(name for name in conditions.all_metrics if name in specs)
    hrcs = conditions_hrcs(conditions)
    pvs_set = list(Pvs.objects.filter(hrc__in=hrcs).select_related("hrc", "source"))
    pvs_set.sort(key=lambda pvs: (pvs.hrc.curve != conditions.anchor, pvs.hrc.curve, pvs.source.name,
                                  pvs.kbps is None, pvs.kbps or 0))
    values, reasons = _metric_values(pvs_set, metrics)
    rows = [ConditionsRow(codec=pvs.hrc.curve, sequence=pvs.source.name, frames=pvs.source.frame_count,
                          rate_point=pvs.hrc.label, params=pvs.hrc.params, pvs_id=pvs.pk, status=pvs.status,
                          kbps=pvs.kbps if pvs.status == JobStatus.DONE else None,
                          values={name: values.get((pvs.pk, name)) for name in metrics})
            for pvs in pvs_set]
    bd = {name: _bd_against_anchor(rows, conditions.anchor, name, specs[name].higher_is_better) for name in metrics}
    return ConditionsReport(conditions, metrics, rows, bd, reasons)


def _metric_values(pvs_set: list[Pvs], metrics: tuple[str, ...]):
    values, reasons = {}, {}
    results = MetricResult.objects.filter(pvs__in=pvs_set, metric__in=metrics).values(
        "pvs_id", "metric", "status", "value", "reason")
    for result in results:
        if result["status"] == MetricStatus.OK and result["value"] is not None:
            values[result["pvs_id"], result["metric"]] = result["value"]
        else:
            reasons.setdefault(result["metric"], f"{result['status']}: {result['reason']}")
    return values, reasons


def _bd_against_anchor(rows: list[ConditionsRow], anchor: str, metric: str, higher_is_better: bool) -> list[CodecBd]:
    curves = defaultdict(lambda: defaultdict(lambda: ([], [])))
    for row in rows:
        if row.kbps is not None and row.values[metric] is not None:
            rates, qualities = curves[row.sequence][row.codec]
            rates.append(row.kbps)
            qualities.append(row.values[metric])
    tested = list(dict.fromkeys(row.codec for row in rows if row.codec != anchor))
    return [bd_over_sources(curves, anchor=anchor, codec=codec, higher_is_better=higher_is_better)
            for codec in tested]


def conditions_csv(report: ConditionsReport) -> str:
    """The report as CSV: the results table, a blank line, then the BD-rate table
    (codec, metric, one column per sequence, average)."""
    specs = all_metrics()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["codec", "sequence", "frames", "rate_point", "pvs_id", "kbps",
                     *(f"{name} [{specs[name].unit}]" if specs[name].unit else name for name in report.metrics)])
    for row, values in report.table():
        writer.writerow([row.codec, row.sequence, row.frames, row.rate_point, row.pvs_id, _cell(row.kbps, 3),
                         *(_cell(value, 6) for value in values)])
    writer.writerow([])
    writer.writerow([f"BD-rate against {report.conditions.anchor}, percent (negative: fewer bits)"])
    writer.writerow(["codec", "metric", *report.sequences, "average", "sequences_averaged"])
    for metric, result, per_sequence in report.bd_table():
        writer.writerow([result.codec, metric, *(_cell(value, 2) for value in per_sequence),
                         _cell(result.mean_rate, 2), result.n_rate])
    return out.getvalue()


def _cell(value: float | None, decimals: int) -> str:
    return "" if value is None else f"{value:.{decimals}f}"
