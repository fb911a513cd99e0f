"""The pages that show metrics: the database grid, one PVS, the rate–distortion dashboard.

HTTP only, staff only (``researcher_only``): query parameters in, pages or PNGs out; the reads are in
``metrics.selectors``, ``metrics.bd`` and ``metrics.grid``, the figures in
``metrics.figures``. No page loads a codec plugin: HRCs carry their curve.
"""
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, render

from metrics.bd import bd_matrix
from metrics.conditions import conditions_csv, conditions_report
from metrics.figures import agreement_figure, per_frame_figure, rd_figure
from metrics.grid import database_grid
from metrics.registry import MetricSpec, all_metrics
from metrics.selectors import (
    metric_agreement,
    pvs_metric_rows,
    rd_curves,
    rd_exclusions,
)
from metrics.services import PICTURE_KINDS, NoPicture, pvs_picture
from metrics.weights import WeightsMissingError
from qa_platform.codec.base import split_controls
from qa_platform.core.access import researcher_only
from qa_platform.core.conditions import CONDITIONS
from qa_platform.core.models import Pvs, Source


def get_metric_or_404(name: str | None) -> MetricSpec:
    """The registered metric called ``name`` (the first registered one when
    ``name`` is empty); ``Http404`` when no metric has that name."""
    metrics = all_metrics()
    if not name:
        return next(iter(metrics.values()))
    if name not in metrics:
        raise Http404(f"No metric named {name!r}.")
    return metrics[name]


@researcher_only
def rd_view(request):
    """Rate–distortion curves of the metric ``?metric=``, for the SRC ``?src=``
    or, without one, averaged over SRCs; the curve-by-anchor BD-rate matrix of the metric."""
    spec = get_metric_or_404(request.GET.get("metric"))
    source_name = request.GET.get("src")
    source = get_object_or_404(Source, name=source_name) if source_name else None
    curves = rd_curves(metric=spec.name, source=source)
    agreement = metric_agreement()
    return render(request, "metrics/rd.html", {
        "spec": spec,
        "metrics": all_metrics().values(),
        "source": source,
        "sources": Source.objects.all(),
        "curves": curves,
        "exclusions": rd_exclusions(metric=spec.name, source=source),
        "figure": rd_figure(spec=spec, curves=curves),
        "agreement_figure": agreement_figure(agreement) if len(agreement.names) > 1 else None,
        "bd_matrix": bd_matrix(metric=spec.name),
    })


@researcher_only
def database_view(request):
    """The SRC x HRC grid of PVS jobs, with the metric chosen by ``?metric=``."""
    spec = get_metric_or_404(request.GET.get("metric"))
    return render(request, "metrics/database.html", {
        "grid": database_grid(metric=spec.name),
        "spec": spec,
        "metrics": all_metrics().values(),
    })


@researcher_only
def pvs_view(request, pk):
    """One PVS: SRC and PVS played side by side, coding facts and metric results."""
    pvs = get_object_or_404(Pvs.objects.select_related("source", "hrc"), pk=pk)
    rows = pvs_metric_rows(pvs=pvs)
    coding_params, controls = split_controls(pvs.hrc.params)
    return render(request, "metrics/pvs.html", {
        "pvs": pvs,
        "coding_params": coding_params,
        "controls": controls,
        "metric_rows": rows,
        "per_frame_figure": per_frame_figure(rows=rows),
        "picture_kinds": PICTURE_KINDS[2:],
    })


@researcher_only
def pvs_picture_view(request, pk, index, kind):
    """A PNG of one frame of a PVS: SRC, PVS, landmarks or a distortion map."""
    pvs = get_object_or_404(Pvs.objects.select_related("source"), pk=pk)
    try:
        image = pvs_picture(pvs=pvs, index=index, kind=kind)
    except NoPicture as error:
        raise Http404(str(error)) from error
    except WeightsMissingError as error:
        return HttpResponse(str(error), status=409, content_type="text/plain")
    return HttpResponse(image, content_type="image/png")


@researcher_only
def conditions_view(request, name):
    """The results of common test conditions ``name`` (e.g. ``jvet-gfvc``): the table in the layout of
    the JVET GFVC reporting template and BD-rates against the anchor; ``?format=csv`` downloads it."""
    if name not in CONDITIONS:
        raise Http404(f"No test conditions named {name!r}.")
    report = conditions_report(CONDITIONS[name])
    if request.GET.get("format") == "csv":
        response = HttpResponse(conditions_csv(report), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{name}-results.csv"'
        return response
    specs = all_metrics()
    return render(request, "metrics/conditions.html", {
        "report": report,
        "columns": [specs[metric] for metric in report.metrics],
        "named": set(report.conditions.metrics),
    })
