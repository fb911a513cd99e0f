"""Analyse a long-format votes CSV (ACR-HR, DCR, CCR or pair comparison) and write the results as files."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from studies import analysis, ccr, paired
from studies.paired import columns_first
from studies.management.output import write_atomically

SCORES_FIRST = ("stimulus", "n_votes", "score", "score_std", "ci95_low", "ci95_high")
SUBJECTS_FIRST = ("subject", "rejected", "bias", "inconsistency", "reason")
METHODS = ("acr-hr", "dcr", "ccr", "pc")
RATING_METHODS = ("acr-hr", "dcr")
DCR_SCALE = "impairment scale 5 Imperceptible .. 1 Very annoying"


class Command(BaseCommand):
    help = (
        "Analyse a votes CSV and write the results to OUT. --method acr-hr (default) or dcr: "
        "subject, stimulus, reference, vote[, repetition, is_reference] on 1..5 with one subject model; writes "
        "scores.csv and subjects.csv (and contents.csv for mle). ccr: subject, stimulus_a, stimulus_b, vote "
        "(-3..+3, b compared with a); writes cmos_pairs.csv and cmos_hrc.csv. pc: subject, stimulus_a, "
        "stimulus_b, preferred; writes scale.csv and sureal_pc.json. Stimuli of ccr and pc are named SRC/HRC."
    )
    requires_system_checks = []  # reads a CSV, writes files: no setting or service involved

    def add_arguments(self, parser):
        parser.add_argument("votes", type=Path, help="long-format votes CSV")
        parser.add_argument("--method", choices=METHODS, default="acr-hr")
        parser.add_argument("--model", choices=analysis.MODELS + paired.PAIR_MODELS, default=None,
                            help=f"acr-hr, dcr: {'|'.join(analysis.MODELS)} (default mos); "
                                 f"pc: {'|'.join(paired.PAIR_MODELS)} (default thurstone); ccr: none")
        parser.add_argument("--ci", choices=analysis.CI_METHODS, default=None,
                            help="acr-hr, dcr: t (Student t with n-1 dof, default) or normal (1.95996 as BT.500 "
                                 "and sureal); ccr always uses t, pc the normal quantile")
        parser.add_argument("--pseudo-count", type=float, default=0.0,
                            help="pc: preferences added both ways to every compared pair (e.g. 0.5), to keep "
                                 "the scale finite when a stimulus won or lost every comparison (default 0)")
        parser.add_argument("--out", type=Path, required=True, help="output folder, created if missing")

    def handle(self, *args, votes, method, model, ci, pseudo_count, out, **options):
        _check_options(method, model, ci, pseudo_count)
        try:
            if method in RATING_METHODS:
                files, summary = _rating(votes, method, model or "mos", ci or "t")
            elif method == "ccr":
                files, summary = _ccr(votes)
            else:
                files, summary = _pc(votes, model or "thurstone", pseudo_count)
        except (analysis.VotesError, OSError) as exc:
            raise CommandError(f"{votes}: {exc}") from exc
        try:
            out.mkdir(parents=True, exist_ok=True)
            for name, content in files.items():
                write_atomically(content, out / name)
        except OSError as exc:
            raise CommandError(f"cannot write to {out}: {exc}") from exc
        self.stdout.write("\n".join([*summary, f"wrote {', '.join(str(out / name) for name in files)}"]))


def _check_options(method: str, model: str | None, ci: str | None, pseudo_count: float) -> None:
    """Refuse options that do not apply to ``method``, with the reason."""
    if method in RATING_METHODS and model is not None and model not in analysis.MODELS:
        raise CommandError(f"--model {model} is a pair-comparison model; {method} takes "
                           f"{', '.join(analysis.MODELS)}")
    if method == "pc" and model is not None and model not in paired.PAIR_MODELS:
        raise CommandError(f"--model {model} is a rating model; pc takes {', '.join(paired.PAIR_MODELS)}")
    if method == "ccr" and model is not None:
        raise CommandError("--model does not apply to ccr: the CMOS is a mean of the votes")
    if method in ("ccr", "pc") and ci is not None:
        raise CommandError(f"--ci applies to acr-hr and dcr; {method} uses "
                           f"{'Student t' if method == 'ccr' else 'the normal quantile of its model'}")
    if pseudo_count and method != "pc":
        raise CommandError("--pseudo-count applies to pc only")
    if not 0 <= pseudo_count < float("inf"):
        raise CommandError(f"--pseudo-count must be a finite number >= 0, not {pseudo_count}")


def _rating(votes: Path, method: str, model: str, ci: str) -> tuple[dict, list[str]]:
    """ACR-HR or DCR votes (both on 1..5): one subject model, as ``studies.analysis.analyse``."""
    result = analysis.analyse(analysis.read_votes_csv(votes), model=model, ci=ci)
    files = {
        "scores.csv": columns_first(result.scores, SCORES_FIRST),
        "subjects.csv": columns_first(result.subjects, SUBJECTS_FIRST),
    }
    if result.contents is not None:
        files["contents.csv"] = result.contents
    rejected = result.subjects[result.subjects["rejected"]]
    scale = f" on the {DCR_SCALE}" if method == "dcr" else ""
    first = (f"{result.model} ({result.model_version}), ci={result.ci}: {len(result.scores)} stimuli, "
             f"{len(result.subjects)} subjects, {len(rejected)} rejected")
    return files, [
        first if method == "acr-hr" else f"dcr{scale}: {first}",
        *(f"  rejected {row.subject}: {row.reason}" for row in rejected.itertuples()),
    ]


def _ccr(votes: Path) -> tuple[dict, list[str]]:
    """CCR votes: CMOS per stimulus pair and per HRC pair."""
    frame = ccr.read_ccr_votes_csv(votes)
    pairs, hrcs = ccr.cmos_pairs(frame), ccr.cmos_hrc(frame)
    return {"cmos_pairs.csv": pairs, "cmos_hrc.csv": hrcs}, [
        f"ccr (b compared with a, -3..+3; pairs sorted by name, 95 % Student t): {len(frame)} votes, "
        f"{frame['subject'].nunique()} subjects, {len(pairs)} stimulus pairs, {len(hrcs)} HRC pairs",
    ]


def _pc(votes: Path, model: str, pseudo_count: float) -> tuple[dict, list[str]]:
    """Pair votes: the model's scale per SRC, and the votes as a sureal pair-comparison dataset."""
    frame = paired.read_pair_votes_csv(votes)
    result = paired.scale_pairs(frame, model=model, pseudo_count=pseudo_count)
    dataset = paired.sureal_pc_dataset(frame, dataset_name=votes.stem)
    pseudo = f", pseudo-count {pseudo_count:g}" if pseudo_count else ""
    return {"scale.csv": result.scores, "sureal_pc.json": dataset}, [
        f"pc {result.model} ({result.model_version}{pseudo}): {len(frame)} choices, "
        f"{frame['subject'].nunique()} subjects, {len(result.scores)} stimuli in "
        f"{result.scores['src'].nunique()} SRCs; unit: {result.unit}; anchored at each SRC's REF "
        "(else its first stimulus)",
    ]


