"""Analyse a long-format votes CSV with one subject model and write the results as CSV."""

from pathlib import Path

import pandas as pd
from django.core.management.base import BaseCommand, CommandError

from studies import analysis
from studies.management.output import write_csv_atomically

SCORES_FIRST = ("stimulus", "n_votes", "score", "score_std", "ci95_low", "ci95_high")
SUBJECTS_FIRST = ("subject", "rejected", "bias", "inconsistency", "reason")


class Command(BaseCommand):
    help = (
        "Analyse a votes CSV (subject, stimulus, reference, vote[, repetition, is_reference]) with one "
        "subject model; write OUT/scores.csv and OUT/subjects.csv (and OUT/contents.csv for mle)."
    )
    requires_system_checks = []  # reads a CSV, writes CSVs: no setting or service involved

    def add_arguments(self, parser):
        parser.add_argument("votes", type=Path, help="long-format votes CSV")
        parser.add_argument("--model", choices=analysis.MODELS, default="mos")
        parser.add_argument("--ci", choices=analysis.CI_METHODS, default="t",
                            help="t: Student t with n-1 dof (default); normal: 1.95996 as BT.500 and sureal")
        parser.add_argument("--out", type=Path, required=True, help="output folder, created if missing")

    def handle(self, *args, votes, model, ci, out, **options):
        try:
            result = analysis.analyse(analysis.read_votes_csv(votes), model=model, ci=ci)
        except (analysis.VotesError, OSError) as exc:
            raise CommandError(f"{votes}: {exc}") from exc
        tables = {
            "scores.csv": _columns_first(result.scores, SCORES_FIRST),
            "subjects.csv": _columns_first(result.subjects, SUBJECTS_FIRST),
        }
        if result.contents is not None:
            tables["contents.csv"] = result.contents
        try:
            out.mkdir(parents=True, exist_ok=True)
            for name, frame in tables.items():
                write_csv_atomically(frame, out / name)
        except OSError as exc:
            raise CommandError(f"cannot write to {out}: {exc}") from exc
        self.stdout.write(_summary(result, [out / name for name in tables]))


def _columns_first(frame: pd.DataFrame, first: tuple[str, ...]) -> pd.DataFrame:
    """Return ``frame`` with the ``first`` columns leading, the others after in their order."""
    return frame[list(first) + [column for column in frame.columns if column not in first]]


def _summary(result: analysis.AnalysisResult, paths: list[Path]) -> str:
    """Describe the result in a few lines: model, counts, rejected subjects and why, files written."""
    rejected = result.subjects[result.subjects["rejected"]]
    lines = [
        f"{result.model} ({result.model_version}), ci={result.ci}: {len(result.scores)} stimuli, "
        f"{len(result.subjects)} subjects, {len(rejected)} rejected",
        *(f"  rejected {row.subject}: {row.reason}" for row in rejected.itertuples()),
        f"wrote {', '.join(str(path) for path in paths)}",
    ]
    return "\n".join(lines)
