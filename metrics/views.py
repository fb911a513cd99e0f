"""The pages that show metrics: the database grid, one PVS, the rate–distortion dashboard."""
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render

from metrics.grid import database_grid
from metrics.registry import all_metrics
from metrics.selectors import (
    PICTURE_KINDS,
    agreement_figure,
    bd_matrix,
    direction,
    get_metric_or_404,
    metric_agreement,
    per_frame_figure,
    pvs_metric_rows,
    pvs_picture,
    rd_curves,
    rd_exclusions,
    rd_figure,
    value_decimals,
)
from metrics.weights import WeightsMissingError
from qa_platform.codec.base import split_controls
from qa_platform.core.models import Pvs, Source


def rd_view(request):
    """Rate–distortion curves of the metric ``?metric=``, for the SRC ``?src=``
    or, without one, averaged over SRCs; the codec-by-anchor BD-rate matrix of the metric."""
    spec = get_metric_or_404(request.GET.get("metric"))
    source_name = request.GET.get("src")
    source = get_object_or_404(Source, name=source_name) if source_name else None
    curves = rd_curves(metric=spec.name, source=source)
    agreement = metric_agreement()
    return render(request, "metrics/rd.html", {
        "spec": spec,
        "direction": direction(spec),
        "metrics": all_metrics().values(),
        "source": source,
        "sources": Source.objects.all(),
        "curves": curves,
        "exclusions": rd_exclusions(metric=spec.name, source=source),
        "figure": rd_figure(spec=spec, curves=curves),
        "agreement_figure": agreement_figure(agreement) if len(agreement.names) > 1 else None,
        "bd_matrix": bd_matrix(metric=spec.name),
    })


def database_view(request):
    """The SRC x HRC grid of PVS jobs, with the metric chosen by ``?metric=``."""
    spec = get_metric_or_404(request.GET.get("metric"))
    return render(request, "metrics/database.html", {
        "grid": database_grid(metric=spec.name),
        "spec": spec,
        "decimals": value_decimals(spec),
        "metrics": all_metrics().values(),
    })


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


def pvs_picture_view(request, pk, index, kind):
    """A PNG of one frame of a PVS: SRC, PVS, landmarks or a distortion map."""
    pvs = get_object_or_404(Pvs.objects.select_related("source"), pk=pk)
    try:
        image = pvs_picture(pvs=pvs, index=index, kind=kind)
    except WeightsMissingError as error:
        return HttpResponse(str(error), status=409, content_type="text/plain")
    return HttpResponse(image, content_type="image/png")
