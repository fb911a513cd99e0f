"""The researcher's pages: the study list, the analysis (MOS and screening),
the metric–MOS correlation dashboard, the dataset export.

The pages read what the jobs stored (``studies.analysis_store``,
``studies.export``) and never compute; their POST buttons queue the jobs.
"""
from pathlib import Path

from django.conf import settings
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from metrics.registry import all_metrics
from qa_platform.core.access import researcher_only
from studies import figures
from studies.analysis import CI_METHODS, MODELS, REGISTRY
from studies.analysis_store import (
    CORRECTIONS,
    AnalysisOptions,
    analysis_request,
    shown_comparisons,
    stored_correlation,
    stored_view,
)
from studies.correlation import LogisticFit
from studies.export import export_request
from studies.models import DatasetExport, Study
from studies.dimensions import related_metrics
from studies.methods import get_method
from studies.results import (
    DEFAULT_MODEL,
    KRASULA_NEEDS_SINGLE_STIMULUS,
    RANKED_STATISTICS,
    RESAMPLINGS,
    Filters,
    method_targets,
    target_label,
)
from studies.selectors import (
    PAIR_SCALED_METHODS,
    UnknownDimensionError,
    resolve_dimension,
    study_counts,
    study_questionnaire,
)


@researcher_only
def study_list_view(request):
    """Every study with its progress and links."""
    studies = [(study, study_counts(study)) for study in Study.objects.all()]
    return render(request, "studies/study_list.html", {"studies": studies})


def _options(study: Study, params) -> dict:
    """Dimension, model, CI, simulated, target, filter, resampling (``resample``: pvs or src) and
    correction (none or holm) choices from a query string or form. Bad values fall back to
    defaults (the target to the method's first), except a dimension the study does not ask:
    a 404 that names the study's dimensions."""
    targets = method_targets(study.method)
    try:
        dimension = resolve_dimension(study, params.get("dimension", ""))
    except UnknownDimensionError as error:
        raise Http404(str(error)) from None
    return {
        "dimension": dimension,
        "model": params.get("model") if params.get("model") in MODELS else DEFAULT_MODEL,
        "ci": params.get("ci") if params.get("ci") in CI_METHODS else "t",
        "include_simulated": params.get("simulated", "1") != "0",
        "target": params.get("target") if params.get("target") in targets else targets[0],
        "filters": Filters(family=params.get("family", ""), codec=params.get("codec", ""),
                           src=params.get("src", "")),
        "resample": params.get("resample") if params.get("resample") in RESAMPLINGS else RESAMPLINGS[0],
        "correction": params.get("correction") if params.get("correction") in CORRECTIONS else CORRECTIONS[0],
    }


def _analysis_options(options: dict) -> AnalysisOptions:
    return AnalysisOptions(model=options["model"], ci=options["ci"], include_simulated=options["include_simulated"],
                           dimension=options["dimension"])


def _context(request, name: str) -> dict:
    """What both pages show: the options, the stored analysis and its state, or why there is none."""
    study = get_object_or_404(Study, name=name)
    options = _options(study, request.GET)
    stored = stored_view(study=study, options=_analysis_options(options))
    message = ""
    if not stored.computed:
        message = "Not computed yet for these options."
    elif stored.analysis.message:
        message = stored.analysis.message
    dimension = next(d for d in study.dimensions if d["key"] == options["dimension"])
    return {"study": study, "options": options, "stored": stored, "analysis": stored.analysis, "message": message,
            "models": [(name, REGISTRY[name].label) for name in MODELS], "counts": study_counts(study),
            "dimensions": study.dimensions, "dimension": dimension, "method": get_method(study.method),
            "paired_scaling": study.method in PAIR_SCALED_METHODS,
            "targets": [(t, target_label(study.method, t)) for t in method_targets(study.method)],
            "target_label": target_label(study.method, options["target"])}


@researcher_only
def analysis_view(request, name):
    """MOS (or the chosen model's scores) per PVS and each participant's screening result and why, as stored."""
    context = _context(request, name)
    if not context["message"]:
        analysis = context["analysis"]
        context.update({"participants": analysis.participants, "model_spec": REGISTRY[analysis.model],
                        "pairs": analysis.pairs, "questionnaire": study_questionnaire(context["study"])})
        # Each PVS row with its (value, CI low, CI high) per target of the method, in the targets' order.
        context["pvs_rows"] = [
            {**row, "scores": [(row.get(t), row.get(f"{t}_ci95_low"), row.get(f"{t}_ci95_high"))
                               for t, _ in context["targets"]]}
            for row in analysis.pvs
        ]
    return render(request, "studies/analysis.html", context)


def _pvs_url(pvs_id: int) -> str:
    return reverse("metrics:pvs", args=[pvs_id])


def _fit(row: dict) -> LogisticFit | None:
    return LogisticFit(params=tuple(row["fit"]), converged=True) if row.get("fit") else None


@researcher_only
def dashboard_view(request, name):
    """Metric–MOS correlations, ranked, with a scatter per metric and rate–MOS curves, as stored."""
    context = _context(request, name)
    if context["message"]:
        return render(request, "studies/dashboard.html", context)
    options, stored = context["options"], context["stored"]
    target, pvs = options["target"], stored.pvs
    context.update({"families": sorted(pvs["family"].unique()), "codecs": sorted(pvs["codec"].unique()),
                    "sources": sorted(pvs["src"].unique())})
    correlation = stored_correlation(analysis=stored.analysis, target=target, filters=options["filters"],
                                     resampling=options["resample"])
    if correlation is None or correlation.computed_at is None:
        by_src = " with SRC resampling" if options["resample"] == "src" else ""
        context["message"] = f"{context['target_label']} correlations on these PVSs{by_src} are not computed yet."
        return render(request, "studies/dashboard.html", context)
    table = options["filters"].apply(pvs).dropna(subset=[target]) if target in pvs else pvs.iloc[0:0]
    related = related_metrics(options["dimension"])
    # The metrics the dimension names (identity metrics for identity, temporal ones for motion) first, marked.
    ranking = sorted(correlation.ranking, key=lambda row: row["metric"] not in related)
    specs = all_metrics()
    by_metric = {row["metric"]: row for row in ranking}
    chosen = request.GET.get("metric") if request.GET.get("metric") in by_metric else None
    chosen = chosen or (ranking[0]["metric"] if ranking else None)
    breakdown = stored.analysis.breakdown.get(target, {"labels": [], "rows": []})
    breakdown_rows = sorted(breakdown["rows"], key=lambda row: row["metric"] not in related)
    context.update({
        "table": table, "correlation": correlation, "ranking": ranking, "statistics": RANKED_STATISTICS,
        "specs": specs, "chosen": chosen, "breakdown": (breakdown["labels"], breakdown_rows), "related": related,
        "comparisons": shown_comparisons(correlation.comparisons, correction=options["correction"]),
        "krasula": correlation.krasula, "krasula_reason": KRASULA_NEEDS_SINGLE_STIMULUS,
        "rate_figure": figures.rate_figure(table, target=target, pvs_url=_pvs_url, label=context["target_label"]),
    })
    if chosen:
        context["scatter_figure"] = figures.scatter_figure(
            table.dropna(subset=[chosen]), spec=specs[chosen], target=target, fit=_fit(by_metric[chosen]),
            pvs_url=_pvs_url, label=context["target_label"])
    return render(request, "studies/dashboard.html", context)


def _next_url(request, default: str) -> str:
    url = request.POST.get("next", "")
    safe = url_has_allowed_host_and_scheme(url, allowed_hosts={request.get_host()},
                                           require_https=request.is_secure())
    return url if safe else default


@researcher_only
@require_POST
def recompute_view(request, name):
    """Queue the analysis job now, keeping the posted options and subset among the stored ones; back to ``next``."""
    study = get_object_or_404(Study, name=name)
    options = _options(study, request.POST)
    analysis_request(study=study, options=_analysis_options(options), target=options["target"],
                     filters=options["filters"], resampling=options["resample"])
    return redirect(_next_url(request, reverse("studies:dashboard", args=[study.name])))


@researcher_only
def export_view(request, name):
    """The dataset export's state and download link; POST queues a new export
    (``simulated=1`` keeps simulated participants)."""
    study = get_object_or_404(Study, name=name)
    if request.method == "POST":
        export_request(study=study, include_simulated=request.POST.get("simulated") == "1")
        return redirect("studies:export", name=study.name)
    export = DatasetExport.objects.filter(study=study).first()
    return render(request, "studies/export.html", {
        "study": study, "export": export, "counts": study_counts(study),
        "ready": export is not None and bool(export.path),
    })


@researcher_only
def export_download_view(request, name):
    """The latest export's zip; 404 until one has been made."""
    export = get_object_or_404(DatasetExport, study__name=name)
    path = Path(settings.DATA_DIR) / export.path
    if not export.path or not path.is_file():
        raise Http404(f"study {name!r} has no export yet")
    return FileResponse(path.open("rb"), as_attachment=True, filename=path.name)
