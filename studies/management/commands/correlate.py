import textwrap

import pandas as pd
from django.core.management.base import BaseCommand, CommandError

from studies.analysis import CI_METHODS, MODELS, VotesError
from studies.management.lookup import study_named
from studies.results import (
    DEFAULT_MODEL,
    RANKED_STATISTICS,
    TARGETS,
    Filters,
    analysis_target,
    correlation_results,
    metric_comparisons,
    study_analysis,
    target_label,
)

STATS = RANKED_STATISTICS


def _cell(row, stat: str) -> str:
    if pd.isna(row[stat]):
        return "–"
    return f"{row[stat]:.3f} [{row[f'{stat}_low']:.3f}, {row[f'{stat}_high']:.3f}]"


def _line(row) -> str:
    rank = "–" if pd.isna(row["rank"]) else str(row["rank"])
    n = "–" if pd.isna(row["n"]) else f"{row['n']:.0f}"
    note = f"  ({row['note']})" if isinstance(row["note"], str) and row["note"] else ""
    return f"{rank:>4}  {row['metric']:<12}{n:>5}  " + "  ".join(f"{_cell(row, s):>24}" for s in STATS) + note


class Command(BaseCommand):
    help = ("Print how well each metric predicts the study's scores on one rating dimension (MOS or DMOS; DCR's "
            "mean impairment score, CCR's CMOS, PC's scale value): PLCC after logistic mapping and "
            "without, SROCC, KROCC, RMSE, outlier ratio with 95 % bootstrap CIs, and Williams' tests.")

    def add_arguments(self, parser):
        parser.add_argument("study")
        parser.add_argument("--model", choices=MODELS, default=DEFAULT_MODEL)
        parser.add_argument("--ci", choices=CI_METHODS, default="t")
        parser.add_argument("--target", choices=TARGETS, default=None,
                            help="Default: the method's first (acr-hr and dcr mos, ccr cmos, pc scale).")
        parser.add_argument("--dimension", default="", help="A rating dimension of the study (default: the primary).")
        parser.add_argument("--family", default="")
        parser.add_argument("--codec", default="")
        parser.add_argument("--src", default="")
        parser.add_argument("--people-only", action="store_true", help="Leave simulated participants out.")
        parser.add_argument("--bootstrap", type=int, default=1000, help="Bootstrap resamples.")

    def handle(self, *args, **options):
        study = study_named(options["study"])
        filters = Filters(family=options["family"], codec=options["codec"], src=options["src"])
        try:
            analysis = study_analysis(study, model=options["model"], ci=options["ci"],
                                      include_simulated=not options["people_only"], dimension=options["dimension"])
            target = analysis_target(analysis, options["target"])
        except (VotesError, ValueError) as error:  # ValueError: a dimension or target the study has not
            raise CommandError(str(error)) from error
        ranking = correlation_results(analysis, target=target, filters=filters, n_bootstrap=options["bootstrap"])
        if analysis.simulated:
            self.stdout.write(f"SIMULATED: {analysis.simulated} simulated participants are included.")
        self.stdout.write(f"{target_label(study.method, target)} ({analysis.dimension}) by "
                          f"{analysis.result.model_version}, "
                          f"{len(filters.apply(analysis.pvs))} PVSs; 95 % bootstrap CIs in brackets.")
        self.stdout.write(f"{'rank':>4}  {'metric':<12}{'n':>5}  " + "  ".join(f"{s:>24}" for s in STATS))
        for _, row in ranking.iterrows():
            self.stdout.write(_line(row))
        comparisons = metric_comparisons(analysis, ranking, target=target, filters=filters)
        if len(comparisons):
            self._write_williams(comparisons[comparisons["significant"]])

    def _write_williams(self, significant: pd.DataFrame) -> None:
        self.stdout.write(f"Williams' test (PLCC after mapping): {len(significant)} pairs differ at p < 0.05; "
                          f"each metric, then those it beats (t and p per pair: the study's dashboard):")
        for line in williams_wins(significant):
            self.stdout.write(line)


def williams_wins(significant: pd.DataFrame, width: int = 100) -> list[str]:
    """The significant pairs (``metric_a`` beats ``metric_b``), one entry per winning metric in
    their order: ``"  a > b, c, ..."``, wrapped at ``width`` columns (continuation lines indented)."""
    return [textwrap.fill(", ".join(beaten), width=width, initial_indent=f"  {metric} > ",
                          subsequent_indent=" " * (len(metric) + 5), break_on_hyphens=False)
            for metric, beaten in significant.groupby("metric_a", sort=False)["metric_b"]]
