"""The researcher's pages: the study list, the analysis (MOS and screening),
the metric–MOS correlation dashboard, the dataset download."""
import functools

from django.conf import settings
from django.contrib.admin.views.decorators import staff_member_required
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse

from metrics.registry import all_metrics
from studies import figures
from studies.analysis import CI_METHODS, MODELS, REGISTRY, VotesError
from studies.correlation import CorrelationError, fit_logistic
from studies.export import dataset_zip
from studies.models import Study
from studies.results import (
    DEFAULT_MODEL,
    RANKED_STATISTICS,
    TARGETS,
    Filters,
    NoVotesError,
    correlation_breakdown,
    correlation_results,
    metric_comparisons,
    study_analysis,
)
from studies.selectors import study_counts


def researcher_only(view):
    """Staff only, unless ``settings.FACEQA_OPEN_RESEARCHER_PAGES`` (the
    loopback demo): participants must not read the votes."""
    protected = staff_member_required(view)

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        chosen = view if settings.FACEQA_OPEN_RESEARCHER_PAGES else protected
        return chosen(request, *args, **kwargs)
    return wrapper


@researcher_only
def study_list_view(request):
    """Every study with its progress and links."""
    studies = [(study, study_counts(study)) for study in Study.objects.all()]
    return render(request, "studies/study_list.html", {"studies": studies})


def _records(frame) -> list[dict]:
    """Rows for a template, NaN and NA as None (shown blank, not as "nan")."""
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def _options(request) -> dict:
    """Model, CI, simulated and filter choices from the query string (bad values fall back to defaults)."""
    get = request.GET
    return {
        "model": get.get("model") if get.get("model") in MODELS else DEFAULT_MODEL,
        "ci": get.get("ci") if get.get("ci") in CI_METHODS else "t",
        "include_simulated": get.get("simulated", "1") != "0",
        "target": get.get("target") if get.get("target") in TARGETS else "mos",
        "filters": Filters(family=get.get("family", ""), codec=get.get("codec", ""), src=get.get("src", "")),
    }


def _analysis_or_message(study: Study, options: dict):
    try:
        return study_analysis(study, model=options["model"], ci=options["ci"],
                              include_simulated=options["include_simulated"]), ""
    except NoVotesError as error:
        return None, str(error)
    except VotesError as error:
        return None, f"the votes cannot be analysed with this model: {error}"


def _context(request, name: str) -> dict:
    study = get_object_or_404(Study, name=name)
    options = _options(request)
    analysis, message = _analysis_or_message(study, options)
    return {"study": study, "options": options, "analysis": analysis, "message": message,
            "models": [(name, REGISTRY[name].label) for name in MODELS], "counts": study_counts(study)}


@researcher_only
def analysis_view(request, name):
    """MOS (or the chosen model's scores) per PVS and each participant's screening result and why."""
    context = _context(request, name)
    analysis = context["analysis"]
    if analysis is not None:
        context["participants"] = _records(analysis.participants)
        context["pvs_rows"] = _records(analysis.pvs)
        context["model_spec"] = REGISTRY[analysis.result.model]
    return render(request, "studies/analysis.html", context)


def _pvs_url(pvs_id: int) -> str:
    return reverse("metrics:pvs", args=[pvs_id])


@researcher_only
def dashboard_view(request, name):
    """Metric–MOS correlations, ranked, with a scatter per metric and rate–MOS curves."""
    context = _context(request, name)
    analysis, options = context["analysis"], context["options"]
    if analysis is None:
        return render(request, "studies/dashboard.html", context)
    table = options["filters"].apply(analysis.pvs).dropna(subset=[options["target"]])
    ranking = correlation_results(analysis, target=options["target"], filters=options["filters"],
                                  n_bootstrap=settings.FACEQA_BOOTSTRAP_RESAMPLES)
    specs = all_metrics()
    chosen = request.GET.get("metric") if request.GET.get("metric") in ranking["metric"].values else None
    chosen = chosen or (ranking["metric"].iloc[0] if len(ranking) else None)
    context.update({
        "table": table, "n_bootstrap": settings.FACEQA_BOOTSTRAP_RESAMPLES,
        "ranking": _records(ranking), "statistics": RANKED_STATISTICS, "specs": specs, "chosen": chosen,
        "families": sorted(analysis.pvs["family"].unique()), "codecs": sorted(analysis.pvs["codec"].unique()),
        "sources": sorted(analysis.pvs["src"].unique()),
        "rate_figure": figures.rate_figure(table, target=options["target"], pvs_url=_pvs_url),
        "breakdown": correlation_breakdown(analysis, target=options["target"]),
        "comparisons": metric_comparisons(analysis, ranking, target=options["target"],
                                          filters=options["filters"]).to_dict("records"),
    })
    if chosen:
        spec = specs[chosen]
        rows = table.dropna(subset=[chosen])
        fit = _fit_or_none(rows[chosen], rows[options["target"]], spec.higher_is_better)
        context["scatter_figure"] = figures.scatter_figure(rows, spec=spec, target=options["target"], fit=fit,
                                                           pvs_url=_pvs_url)
    return render(request, "studies/dashboard.html", context)


def _fit_or_none(metric, target, higher_is_better):
    try:
        fit = fit_logistic(metric, target, higher_is_better=higher_is_better)
    except CorrelationError:
        return None
    return fit if fit.converged else None


@researcher_only
def export_view(request, name):
    """The dataset as a zip (votes of people only unless ?simulated=1)."""
    study = get_object_or_404(Study, name=name)
    include_simulated = request.GET.get("simulated") == "1"
    try:
        path = dataset_zip(study=study, include_simulated=include_simulated)
    except NoVotesError as error:
        raise Http404(str(error)) from error
    except VotesError as error:
        return HttpResponse(f"the votes cannot be exported: {error}", status=409, content_type="text/plain")
    return FileResponse(path.open("rb"), as_attachment=True, filename=path.name)
