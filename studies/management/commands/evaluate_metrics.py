"""Evaluate objective metrics against raw votes from two CSV files and write the results as CSV."""

from pathlib import Path

import pandas as pd
from django.core.management.base import BaseCommand, CommandError

from studies import evaluation, krasula
from studies.management.output import write_atomically


class Command(BaseCommand):
    help = (
        "Evaluate metrics against raw votes: VOTES.csv (subject, stimulus, vote[, reference]; without "
        "reference the SRC is the stimulus name before its first '/') and SCORES.csv (stimulus, one column per "
        "metric). Writes OUT/metrics.csv (PLCC, SROCC, KROCC, RMSE, outlier ratio with bootstrap CIs; "
        "AUC_DS, AUC_BW, CC0, resolving power) and OUT/comparisons.csv (Williams' and Krasula's tests)."
    )
    requires_system_checks = []  # reads CSVs, writes CSVs: no setting or service involved

    def add_arguments(self, parser):
        parser.add_argument("--votes", type=Path, required=True, help="long-format votes CSV")
        parser.add_argument("--scores", type=Path, required=True, help="one row per stimulus, one column per metric")
        parser.add_argument("--out", type=Path, required=True, help="output folder, created if missing")
        parser.add_argument("--lower-is-better", default="", metavar="COL,...",
                            help="metric columns where a lower score means better quality")
        parser.add_argument("--cluster-bootstrap", action="store_true",
                            help="resample SRCs, not PVSs, for every bootstrap interval")
        parser.add_argument("--holm", action="store_true",
                            help="Holm-adjust the p-values of each test over all pairs of metrics")
        parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples (default 1000)")
        parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap (default 0)")
        parser.add_argument("--pair-test", choices=krasula.PAIR_TESTS, default="welch",
                            help="which pairs of stimuli differ: Welch's t test at 0.05 (default) or vmaf's |z| > 2")

    def handle(self, *args, votes, scores, out, lower_is_better, cluster_bootstrap, holm, bootstrap, seed,
               pair_test, **options):
        if bootstrap < 1:
            raise CommandError(f"--bootstrap must be at least 1, got {bootstrap}")
        tables = {name: _read_csv(path) for name, path in (("votes", votes), ("scores", scores))}
        try:
            result = evaluation.evaluate_metrics(
                tables["votes"], tables["scores"],
                lower_is_better=[name.strip() for name in lower_is_better.split(",") if name.strip()],
                n_bootstrap=bootstrap, seed=seed, cluster_bootstrap=cluster_bootstrap,
                correction="holm" if holm else None, pair_test=pair_test)
        except evaluation.EvaluationError as exc:
            raise CommandError(str(exc)) from exc
        written = [out / "metrics.csv", out / "comparisons.csv"]
        try:
            out.mkdir(parents=True, exist_ok=True)
            for frame, path in zip((result.metrics, result.comparisons), written, strict=True):
                write_atomically(frame, path)
        except OSError as exc:
            raise CommandError(f"cannot write to {out}: {exc}") from exc
        for note in result.notes:
            self.stdout.write(f"note: {note}")
        self.stdout.write(f"{len(result.metrics)} metrics on {len(result.stimuli)} stimuli "
                          f"({result.stimuli['src'].nunique()} SRCs), {bootstrap} "
                          f"{'SRC' if cluster_bootstrap else 'PVS'} bootstrap resamples; "
                          f"wrote {', '.join(str(path) for path in written)}")


def _read_csv(path: Path) -> pd.DataFrame:
    """Read a CSV with text names (stimulus, subject, reference kept as str); CommandError if unreadable."""
    try:
        return pd.read_csv(path, dtype={"subject": str, "stimulus": str, "reference": str})
    except (OSError, pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise CommandError(f"cannot read {path}: {exc}") from exc
