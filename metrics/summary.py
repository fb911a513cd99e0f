"""The rate–distortion summary table: one row per codec and rate point (HRC)."""
from collections import defaultdict

from metrics.models import MetricResult, MetricStatus
from metrics.registry import all_metrics
from qa_platform.core.models import Hrc, JobStatus, Pvs


def rd_summary_rows() -> list[dict]:
    """Per HRC with at least one done PVS: codec, label, number of SRCs, mean kbit/s and,
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
        row = {"codec": hrc.codec, "hrc": hrc.label, "n_src": len(rates), "kbps": sum(rates) / len(rates),
               "metrics": {}, "reasons": {}}
        for name in all_metrics():
            values = results.get((hrc.pk, name), [])
            row["metrics"][name] = sum(values) / len(values) if values else None
            if not values and (hrc.pk, name) in reasons:
                row["reasons"][name] = reasons[hrc.pk, name]
        rows.append(row)
    return sorted(rows, key=lambda row: (row["codec"], row["kbps"]))


# Metric columns per block of the text table, so that a block fits a terminal.
COLUMNS_PER_BLOCK = 8


def rd_summary_text() -> str:
    """``rd_summary_rows`` as plain-text tables (one block of up to
    ``COLUMNS_PER_BLOCK`` metrics each); units, directions and unavailable
    reasons below them."""
    specs = all_metrics()
    rows = rd_summary_rows()
    names = list(specs)
    lines, unavailable = [], {}
    for start in range(0, len(names), COLUMNS_PER_BLOCK):
        block = names[start:start + COLUMNS_PER_BLOCK]
        lines.append(f"{'codec':<14} {'HRC':<30} {'SRCs':>4} {'kbit/s':>7} "
                     + " ".join(f"{specs[name].label[:11]:>11}" for name in block))
        for row in rows:
            cells = [
                f"{'unavailable' if row['metrics'][name] is None else format(row['metrics'][name], '.4g'):>11}"
                for name in block
            ]
            lines.append(f"{row['codec']:<14} {row['hrc']:<30} {row['n_src']:>4} {row['kbps']:>7.1f} " + " ".join(cells))
        lines.append("")
    for row in rows:
        for name, reason in row["reasons"].items():
            unavailable.setdefault(name, reason)
    lines += [
        f"{spec.label}: {spec.unit or 'no unit'}, {'higher' if spec.higher_is_better else 'lower'} is better"
        for spec in specs.values()
    ]
    lines += [f"{specs[name].label} {reason}" for name, reason in unavailable.items()]
    return "\n".join(lines)
