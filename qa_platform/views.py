"""The database pages: the SRC x HRC grid and one PVS."""
from django.shortcuts import get_object_or_404, render

from metrics.registry import all_metrics
from metrics.selectors import get_metric_or_404, per_frame_figure, pvs_metric_rows, value_decimals
from qa_platform.models import Pvs
from qa_platform.selectors import database_grid


def database_view(request):
    """The SRC x HRC grid of PVS jobs, with the metric chosen by ``?metric=``."""
    spec = get_metric_or_404(request.GET.get("metric"))
    return render(request, "qa_platform/database.html", {
        "grid": database_grid(metric=spec.name),
        "spec": spec,
        "decimals": value_decimals(spec),
        "metrics": all_metrics().values(),
    })


def pvs_view(request, pk):
    """One PVS: SRC and PVS played side by side, coding facts and metric results."""
    pvs = get_object_or_404(Pvs.objects.select_related("source", "hrc"), pk=pk)
    rows = pvs_metric_rows(pvs=pvs)
    return render(request, "qa_platform/pvs.html", {
        "pvs": pvs,
        "metric_rows": rows,
        "per_frame_figure": per_frame_figure(rows=rows),
    })
