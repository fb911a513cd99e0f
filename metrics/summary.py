"""The rate–distortion summary table: one row per codec and rate point (HRC)."""
from collections import defaultdict

from metrics.models import MetricResult, MetricStatus
from metrics.registry import all_metrics
from qa_platform.models import Hrc, JobStatus, Pvs


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


def rd_summary_text() -> str:
    """``rd_summary_rows`` as a plain-text table; units, directions and unavailable reasons below it."""
    specs = all_metrics()
    lines = [f"{'codec':<14} {'HRC':<30} {'SRCs':>4} {'kbit/s':>7} "
             + " ".join(f"{spec.label[:11]:>11}" for spec in specs.values())]
    unavailable = {}
    for row in rd_summary_rows():
        cells = [
            f"{'unavailable' if row['metrics'][name] is None else format(row['metrics'][name], '.4g'):>11}"
            for name in specs
        ]
        lines.append(f"{row['codec']:<14} {row['hrc']:<30} {row['n_src']:>4} {row['kbps']:>7.1f} " + " ".join(cells))
        for name, reason in row["reasons"].items():
            unavailable.setdefault(name, reason)
    lines.append("")
    lines += [
        f"{spec.label}: {spec.unit or 'no unit'}, {'higher' if spec.higher_is_better else 'lower'} is better"
        for spec in specs.values()
    ]
    lines += [f"{specs[name].label} {reason}" for name, reason in unavailable.items()]
    return "\n".join(lines)
