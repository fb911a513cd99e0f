"""The rate–distortion dashboard."""
from django.shortcuts import get_object_or_404, render

from metrics.registry import all_metrics
from metrics.selectors import direction, get_metric_or_404, rd_curves, rd_exclusions, rd_figure
from qa_platform.models import Source


def rd_view(request):
    """Rate–distortion curves of the metric ``?metric=``, for the SRC ``?src=``
    or, without one, averaged over SRCs."""
    spec = get_metric_or_404(request.GET.get("metric"))
    source_name = request.GET.get("src")
    source = get_object_or_404(Source, name=source_name) if source_name else None
    curves = rd_curves(metric=spec.name, source=source)
    return render(request, "metrics/rd.html", {
        "spec": spec,
        "direction": direction(spec),
        "metrics": all_metrics().values(),
        "source": source,
        "sources": Source.objects.all(),
        "curves": curves,
        "exclusions": rd_exclusions(metric=spec.name, source=source),
        "figure": rd_figure(spec=spec, curves=curves),
    })
