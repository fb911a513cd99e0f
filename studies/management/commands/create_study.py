from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse

from studies.design import PAIR_SETS
from studies.dimensions import DIMENSIONS
from studies.methods import METHODS
from studies.models import Method, PairDesign, Presentation
from studies.selectors import PvsFilterError, participants_needed, pvs_matching
from studies.services import StudyError, study_create


class Command(BaseCommand):
    help = "Create a rating study (ACR-HR, DCR, CCR or PC) over finished PVSs and print its participant URL."

    def add_arguments(self, parser):
        parser.add_argument("name", help="Study name (a slug).")
        parser.add_argument("--method", choices=Method.values, default=Method.ACR_HR,
                            help="; ".join(f"{m.name}: {m.label}" for m in METHODS.values()))
        parser.add_argument("--dimensions", default=None,
                            help=f"What each trial asks, comma-separated: {', '.join(DIMENSIONS)}, or key=wording "
                                 "for a study's own (default: overall).")
        parser.add_argument("--presentation", choices=Presentation.values, default=Presentation.SEQUENTIAL,
                            help="Paired methods: the two videos one after the other, or side by side.")
        parser.add_argument("--gap-ms", type=int, default=1000,
                            help="Sequential pairs: mid-grey between the two videos, ms (default 1000).")
        parser.add_argument("--pairs", default=None,
                            help=f"CCR and PC: which pairs, one or more of {', '.join(PAIR_SETS)} separated by "
                                 "commas (default: reference,same-rate for ccr, all for pc).")
        parser.add_argument("--pair-design", choices=PairDesign.values, default=PairDesign.ACTIVE,
                            help="PC: active sampling (ASAP), a balanced random draw, or every pair.")
        parser.add_argument("--pvs", default="all",
                            help="all, or e.g. 'codec=x265,landmark-warp;src=lp_d20' (keys: codec, src, hrc, id).")
        parser.add_argument("--votes-per-pvs", type=int, default=15)
        parser.add_argument("--trials-per-participant", type=int, default=None,
                            help="Test stimuli per participant (default: all).")
        parser.add_argument("--training", type=int, default=3,
                            help="Training stimuli shown first: one SRC and its PVSs over the quality range.")
        parser.add_argument("--training-pvs", default=None,
                            help="Choose the training PVSs instead, with a filter as for --pvs.")
        parser.add_argument("--no-trap", action="store_true", help="Do not insert the trapping clip.")
        parser.add_argument("--replays", type=int, default=0, help="Replays allowed per trial.")
        parser.add_argument("--consistency-repeats", type=int, default=0,
                            help="Test stimuli shown a second time per participant, to measure consistency.")
        parser.add_argument("--no-qualification", action="store_true",
                            help="Crowd participants skip the acuity test and questionnaire.")
        parser.add_argument("--allow-phones", action="store_true", help="Let phones take part.")
        parser.add_argument("--screening-excludes", action="store_true",
                            help="Participants flagged by the screening rules are left out of the scores "
                                 "(gold failures always are).")
        parser.add_argument("--max-participants", type=int, default=None,
                            help="Cap on the people who may join (default: none).")
        parser.add_argument("--completion-url", default="",
                            help="Crowd: where to send participants at the end; {code} = completion code.")
        parser.add_argument("--seed", type=int, default=None)
        parser.add_argument("--base-url", default="http://127.0.0.1:8000")

    def handle(self, *args, **options):
        try:
            study = study_create(
                name=options["name"], method=options["method"], pvs=pvs_matching(options["pvs"]), votes_per_pvs=options["votes_per_pvs"],
                trials_per_participant=options["trials_per_participant"], training_count=options["training"],
                training=pvs_matching(options["training_pvs"]) if options["training_pvs"] else None,
                trap=not options["no_trap"], replays_allowed=options["replays"],
                completion_url=options["completion_url"], seed=options["seed"],
                max_participants=options["max_participants"], dimensions=options["dimensions"],
                presentation=options["presentation"], gap_ms=options["gap_ms"], pair_set=options["pairs"],
                pair_design=options["pair_design"], consistency_repeats=options["consistency_repeats"],
                qualification_required=not options["no_qualification"], allow_phones=options["allow_phones"],
                screening_excludes=options["screening_excludes"],
            )
        except (StudyError, PvsFilterError) as error:
            raise CommandError(str(error)) from error
        counts = {role: study.stimuli.filter(role=role).count() for role in ("test", "training", "trap")}
        n_references = sum(1 for s in study.stimuli.filter(role="test") if s.is_reference)
        n_rated = counts["test"] - n_references
        unit = "pairs" if METHODS[study.method].paired and study.method != Method.DCR else "PVSs"
        per_participant = study.trials_per_participant or n_rated
        dimensions = ", ".join(d["label"] for d in study.dimensions)
        references, every_reference = (
            (f" and {n_references} hidden references", " and every hidden reference") if n_references else ("", ""))
        self.stdout.write(
            f"Study {study.name} ({study.get_method_display()}; asks: {dimensions}): {n_rated} {unit}{references}, "
            f"{counts['training']} training, {counts['trap']} trap; each participant rates {per_participant} "
            f"{unit}{every_reference}; {participants_needed(study)} participants give {study.votes_per_pvs} votes "
            f"per test stimulus."
        )
        if study.method == Method.PC and study.pair_design == PairDesign.ACTIVE:
            self.stdout.write("That count gives every pair its votes; active sampling does not need every pair "
                              "(benchmark_active_sampling: random pairs need about 1.5x its comparisons for the "
                              "same scale error).")
        if study.method == Method.CCR and not study.stimuli.filter(role="test", companion_pvs__isnull=True).exists():
            self.stdout.write("Note: no pair against the SRC, so no PVS gets a CMOS of its own (the dashboard's "
                              "target); the CMOS per pair of HRCs is computed. Add --pairs reference,... for both.")
        self.stdout.write(f"Participant URL: {options['base_url']}{reverse('studies:landing', args=[study.name])}")
        self.stdout.write(f"Completion code: {study.completion_code}")
