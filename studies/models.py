"""Rating studies: a study, its stimuli, its participants, their trials and votes.

Method names and scale follow ITU-T P.910 (10/2023) §8.1 (ACR, its 5-point
scale) and ITU-T P.913 (06/2021) §7.2.2 (ACR with hidden reference, ACR-HR):
each SRC is shown among the PVSs as a hidden reference and rated like them. A participant's trials are their playlist, stored
when they join so that the assignment is reproducible and auditable; a vote
answers one trial and is stored once.
"""
import uuid

from django.core.exceptions import ValidationError
from django.db import models

from qa_platform.core.models import Job, Pvs, Source
from studies.dimensions import parse_dimensions
from studies.qualification import QualificationError, default_questionnaire, parse_questionnaire


class Method(models.TextChoices):
    """The rating methods (``studies.methods.METHODS`` holds their scales and sources)."""

    ACR_HR = "acr-hr", "ACR-HR (absolute category rating with hidden reference)"
    DCR = "dcr", "DCR (degradation category rating)"
    CCR = "ccr", "CCR (comparison category rating)"
    PC = "pc", "PC (pair comparison)"


class Presentation(models.TextChoices):
    """How the two videos of a pair are shown (DCR, CCR, PC)."""

    SEQUENTIAL = "sequential", "one after the other, with a grey gap"
    SIDE_BY_SIDE = "side-by-side", "side by side, at native size"


class PairDesign(models.TextChoices):
    """Which pairs a PC participant compares."""

    ACTIVE = "active", "active sampling (ASAP: the pair of most expected information next)"
    RANDOM = "random", "a balanced random draw of pairs"
    FULL = "full", "every pair of every SRC"


def validate_questionnaire(value) -> None:
    """A study's questionnaire must be [{key, question, choices}] (``studies.qualification``)."""
    try:
        parse_questionnaire(value)
    except QualificationError as error:
        raise ValidationError(str(error)) from error


def default_dimensions() -> list[dict]:
    return parse_dimensions(None)


class AcrScore(models.IntegerChoices):
    """The 5-point ACR quality scale (ITU-T P.910 (10/2023) §8.1)."""

    EXCELLENT = 5, "Excellent"
    GOOD = 4, "Good"
    FAIR = 3, "Fair"
    POOR = 2, "Poor"
    BAD = 1, "Bad"


class Study(models.Model):
    """One subjective experiment: a method, a scale, stimuli and participants."""

    name = models.SlugField(max_length=120, unique=True)
    method = models.CharField(max_length=16, choices=Method.choices, default=Method.ACR_HR)
    dimensions = models.JSONField(
        default=default_dimensions,
        help_text="What each trial asks, in order: [{key, label, wording}] (studies.dimensions); the first is primary.",
    )
    presentation = models.CharField(max_length=16, choices=Presentation.choices, default=Presentation.SEQUENTIAL,
                                    help_text="Paired methods: how the two videos are shown.")
    gap_ms = models.PositiveIntegerField(
        default=1000, help_text="Sequential pairs: the mid-grey screen between the two videos, milliseconds.")
    pair_design = models.CharField(max_length=8, choices=PairDesign.choices, default=PairDesign.ACTIVE,
                                   help_text="PC only: how pairs are chosen.")
    votes_per_pvs = models.PositiveIntegerField(
        default=15, help_text="Votes every test stimulus should reach (P.910 asks for at least 15 viewers)."
    )
    trials_per_participant = models.PositiveIntegerField(
        null=True, blank=True, help_text="Test stimuli per participant; empty = every test stimulus."
    )
    seed = models.PositiveBigIntegerField(help_text="Seeds every participant's stimulus draw and order.")
    replays_allowed = models.PositiveIntegerField(
        default=0, help_text="How many times a participant may replay a video before rating it."
    )
    trap_enabled = models.BooleanField(
        default=True, help_text='Insert one trapping clip ("Please rate this video Poor") among the trials.'
    )
    gold_max_failures = models.PositiveIntegerField(
        default=2,
        help_text="A participant who fails more gold trials than this is rejected: a hidden reference "
                  "rated below Good, or the trapping clip not rated Poor.",
    )
    consent_text = models.TextField(default=(
        "You are invited to take part in a video quality study. You will watch short silent videos of "
        "faces and rate their quality. It takes about 15 minutes. Your votes are stored under a random "
        "participant number. If you come from a crowd platform (Prolific, MTurk), your platform id is "
        "stored with it, to pay you and to let you resume; it is deleted after payment and is never "
        "part of a published dataset. You may stop at any time."
    ))
    instructions_text = models.TextField(default=(
        "Each video plays once. Watch it to the end, then rate its overall quality on the five-point "
        "scale. Judge the picture only: there is no sound. The first few videos are practice and show "
        "the range of quality you will see."
    ))
    completion_url = models.URLField(
        blank=True, max_length=500,
        help_text="Crowd platforms: where a participant is sent at the end; {code} is replaced by "
                  "the completion code (Prolific: https://app.prolific.com/submissions/complete?cc={code}).",
    )
    completion_code = models.CharField(max_length=32)
    is_open = models.BooleanField(default=True)
    max_participants = models.PositiveIntegerField(
        null=True, blank=True, help_text="People who may join (simulated observers not counted); empty: no cap.")
    screening_excludes = models.BooleanField(
        default=False,
        help_text="Also exclude from MOS the participants flagged by the other screening rules "
                  "(straight-lining, watch times, consistency; studies.screening). Gold failures beyond "
                  "gold_max_failures always exclude; the other flags are shown on the analysis page either way.",
    )
    qualification_required = models.BooleanField(
        default=True,
        help_text="Crowd participants (Prolific, MTurk) pass the qualification (visual acuity test and "
                  "questionnaire, once per crowd id) before the viewing check. Lab participants skip it: "
                  "the lab screens vision in person (P.910).",
    )
    questionnaire = models.JSONField(
        default=default_questionnaire, blank=True, validators=[validate_questionnaire],
        help_text="Asked once per crowd id with the qualification: [{key, question, choices}] "
                  "(studies.qualification); reported in aggregate only.",
    )
    consistency_repeats = models.PositiveIntegerField(
        default=0, help_text="Test PVSs each participant sees a second time (never next to the first showing) "
                             "to measure their consistency; the second votes are not in the MOS.")
    allow_phones = models.BooleanField(
        default=False, help_text="Let participants on a phone take part (the viewing check refuses phones otherwise).")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "studies"

    def __str__(self):
        return self.name


class StimulusRole(models.TextChoices):
    TEST = "test", "test"
    TRAINING = "training", "training"
    TRAP = "trap", "trap"


class Stimulus(models.Model):
    """What one trial shows: a PVS, a SRC as hidden reference, a trapping clip, or a pair.

    ``pvs`` is null for a hidden reference and for the trap (the trap is a SRC
    with an instruction rendered into the video, stored at ``media_path``).
    A pair (``is_pair``) is two videos of one SRC: A (``pvs``, ``media_path``)
    and B, its companion (``companion_pvs``, ``companion_media_path``); either
    is the SRC itself when its PVS is null. DCR pairs have B = the SRC, shown
    first; CCR and PC pairs are shown in the order drawn per trial
    (``Trial.swapped``).
    """

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="stimuli")
    role = models.CharField(max_length=16, choices=StimulusRole.choices)
    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="+")
    pvs = models.ForeignKey(Pvs, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    media_path = models.CharField(max_length=500, help_text="Browser copy, relative to DATA_DIR.")
    is_pair = models.BooleanField(default=False, help_text="Paired methods: the trial shows this and a companion.")
    companion_pvs = models.ForeignKey(Pvs, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                                      help_text="The pair's other video (null in a pair: the SRC itself).")
    companion_media_path = models.CharField(max_length=500, blank=True)
    expected_scores = models.JSONField(
        default=list, blank=True, help_text="Gold trials: the scores a careful viewer gives."
    )

    class Meta:
        ordering = ["study_id", "role", "id"]
        verbose_name_plural = "stimuli"

    def __str__(self):
        return f"{self.role}: {self.label}"

    @property
    def is_reference(self) -> bool:
        """A hidden reference: the SRC alone (ACR-HR), or against itself (DCR)."""
        return self.role == StimulusRole.TEST and self.pvs_id is None and (
            not self.is_pair or self.companion_pvs_id is None)

    @property
    def label(self) -> str:
        """The stimulus name used in votes files: ``SRC/HRC``, or ``SRC/REF``, or ``SRC/TRAP``
        (a pair: the name of its A)."""
        if self.role == StimulusRole.TRAP:
            return f"{self.source.name}/TRAP"
        return f"{self.source.name}/{self.pvs.hrc.label if self.pvs_id else 'REF'}"

    @property
    def companion_label(self) -> str:
        """A pair's B as ``SRC/HRC`` or ``SRC/REF``; empty for a single video."""
        if not self.is_pair:
            return ""
        return f"{self.source.name}/{self.companion_pvs.hrc.label if self.companion_pvs_id else 'REF'}"


class Platform(models.TextChoices):
    LAB = "lab", "lab"
    PROLIFIC = "prolific", "Prolific"
    MTURK = "mturk", "MTurk"
    SIMULATED = "simulated", "simulated"


class Participant(models.Model):
    """One viewer's participation in one study; ``token`` is their private URL key."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="participants")
    token = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    platform = models.CharField(max_length=16, choices=Platform.choices, default=Platform.LAB)
    external_id = models.CharField(max_length=200, null=True, blank=True)
    external_study_id = models.CharField(max_length=200, blank=True)
    external_session_id = models.CharField(max_length=200, blank=True)
    submit_to = models.CharField(
        max_length=200, blank=True,
        help_text="MTurk: the server the finished HIT is submitted to (turkSubmitTo, an origin checked "
                  "against FACEQA_MTURK_SUBMIT_ORIGINS); external_session_id holds the assignment id.",
    )
    is_simulated = models.BooleanField(default=False)
    assignment_seed = models.PositiveBigIntegerField()
    consented_at = models.DateTimeField(null=True, blank=True)
    viewing = models.JSONField(
        default=dict, blank=True,
        help_text="Viewing conditions from the check: screen and window size (CSS px), device "
                  "pixel ratio, estimated zoom, user agent.",
    )
    viewing_checked_at = models.DateTimeField(null=True, blank=True)
    qualification = models.ForeignKey(
        "Qualification", on_delete=models.SET_NULL, null=True, blank=True, related_name="participants",
        help_text="The crowd id's qualification this participation went through (or reused).")
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["study_id", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["study", "platform", "external_id"], name="one_participation_per_external_id"
            )
        ]

    def __str__(self):
        return self.anonymous_id

    @property
    def anonymous_id(self) -> str:
        """The name used in analyses and exports (no external id in it)."""
        return f"{'sim' if self.is_simulated else 'P'}{self.pk:03d}"


class BlockedCrowdId(models.Model):
    """A crowd id that may join no study: stored as ``studies.crowd_ids.crowd_id_hash`` (an HMAC keyed
    by a secret derived from ``SECRET_KEY``), never as the id itself."""

    platform = models.CharField(max_length=16, choices=Platform.choices)
    id_hash = models.CharField(max_length=64, help_text="HMAC-SHA256 of the crowd id (hex); not the id.")
    reason = models.TextField(help_text="Why, for the researchers; never shown to the participant.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["platform", "id_hash"], name="one_block_per_crowd_id")]

    def __str__(self):
        return f"{self.platform} {self.id_hash[:12]}…"


class Qualification(models.Model):
    """A crowd id's qualification (``studies.qualification``): the visual acuity test, scored on the
    server, and the questionnaire answers; taken once and reused by every study. Keyed by the id's
    hash, like the block list."""

    platform = models.CharField(max_length=16, choices=Platform.choices)
    id_hash = models.CharField(max_length=64, help_text="HMAC-SHA256 of the crowd id (hex); not the id.")
    passed = models.BooleanField()
    acuity = models.JSONField(default=dict, blank=True,
                              help_text="Per optotype size: stroke width (device px), shown, correct; the rule.")
    questionnaire = models.JSONField(default=dict, blank=True, help_text="Answers by question key.")
    tested_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-tested_at"]
        constraints = [models.UniqueConstraint(fields=["platform", "id_hash"], name="one_qualification_per_crowd_id")]

    def __str__(self):
        return f"{self.platform} {self.id_hash[:12]}…: {'passed' if self.passed else 'failed'}"


class Trial(models.Model):
    """One presentation in a participant's playlist, at ``position`` (0-based).

    ``swapped``: a CCR or PC pair drawn to be shown B first (a DCR pair always
    shows B, the SRC, first and is never swapped). ``repeat``: 0, or 1 for the second
    showing of a stimulus repeated to measure the participant's consistency.
    """

    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="trials")
    stimulus = models.ForeignKey(Stimulus, on_delete=models.PROTECT, related_name="trials")
    position = models.PositiveIntegerField()
    swapped = models.BooleanField(default=False)
    repeat = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["participant_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["participant", "position"], name="unique_trial_position"),
            models.UniqueConstraint(fields=["participant", "stimulus", "repeat"], name="unique_trial_stimulus"),
        ]

    def __str__(self):
        return f"{self.participant} #{self.position}"


class Vote(models.Model):
    """The answer to one trial, with how the video was watched.

    ``score``: the answer on the study's primary (first) dimension, on the
    method's scale as shown (``studies.methods``: 1..5, −3..+3, or 1/2 for the
    first or second video shown); ``scores``: every dimension's answer by key.
    """

    trial = models.OneToOneField(Trial, on_delete=models.CASCADE, related_name="vote")
    score = models.SmallIntegerField()
    scores = models.JSONField(default=dict, blank=True)
    watch_seconds = models.FloatField(
        null=True, blank=True, help_text="From play to the end of the last playback, seconds."
    )
    stall_count = models.PositiveIntegerField(default=0, help_text="Playback stalls (waiting events).")
    stall_seconds = models.FloatField(default=0.0)
    replays = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"{self.trial}: {self.score}"


class StoredAnalysis(models.Model):
    """A study's votes through one subject model, as the analysis job stored them (``studies.analysis_store``).

    One row per study, rating ``dimension`` (a key of ``Study.dimensions``) and option
    set: subject ``model`` (``studies.analysis.MODELS``; CCR and PC studies are
    scaled as pairs and ignore it), ``ci`` method and whether simulated participants count. The pages read these
    rows and never compute. ``computed_at`` is null while a row someone asked for
    waits for its first run; ``message`` says why a run gave no result (no votes yet).
    """

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="analyses")
    dimension = models.CharField(
        max_length=32, default="overall",
        help_text="The rating dimension analysed (a Study.dimensions key; rows from before dimensions: overall).")
    model = models.CharField(max_length=16)
    ci = models.CharField(max_length=8)
    include_simulated = models.BooleanField()
    computed_at = models.DateTimeField(null=True, blank=True)
    study_votes = models.PositiveIntegerField(
        default=0, help_text="Every vote of the study when computed: a different count now means stale.")
    n_votes = models.PositiveIntegerField(default=0, help_text="Test votes analysed.")
    simulated = models.PositiveIntegerField(default=0, help_text="Simulated participants analysed.")
    model_version = models.CharField(
        max_length=100, blank=True, help_text="The subject model's TYPE and VERSION, e.g. sureal-0.9.0/BT500_V0.1.")
    versions = models.JSONField(default=dict, blank=True, help_text="sureal, numpy, scipy and code versions.")
    message = models.TextField(blank=True)
    pvs = models.JSONField(default=list, blank=True, help_text="One record per test PVS (studies.results.pvs_table).")
    participants = models.JSONField(
        default=list, blank=True, help_text="One record per participant (studies.results.participant_table).")
    breakdown = models.JSONField(
        default=dict, blank=True, help_text="Per target: studies.results.correlation_breakdown's labels and rows.")
    pairs = models.JSONField(
        default=list, blank=True,
        help_text="CCR: CMOS per pair of HRCs with 95 % CIs; PC: scale value per stimulus "
                  "(studies.results.StudyAnalysis.pairs); empty for ACR-HR and DCR.")

    class Meta:
        ordering = ["study_id", "dimension", "model", "ci", "-include_simulated"]
        verbose_name_plural = "stored analyses"
        constraints = [
            models.UniqueConstraint(fields=["study", "dimension", "model", "ci", "include_simulated"],
                                    name="one_analysis_per_dimension_and_options")
        ]

    def __str__(self):
        people = "" if self.include_simulated else ", people only"
        return f"{self.study.name} ({self.dimension}): {self.model}, CI {self.ci}{people}"


class StoredCorrelation(models.Model):
    """Metric–target correlations of one stored analysis over one subset of PVSs, with bootstrap CIs.

    ``target``: one of the study method's targets (``studies.results.METHOD_TARGETS``:
    ``mos``, ``dmos``, ``cmos`` or ``scale``); ``family``, ``codec``, ``src`` empty = all.
    ``resampling``: what the bootstrap intervals resample, ``pvs`` (each PVS
    alone) or ``src`` (the cluster bootstrap: whole SRCs with all their PVSs,
    Davison & Hinkley 1997 §3.8; ``studies.correlation``).
    ``ranking``: studies.results.correlation_results' rows (with each metric's
    logistic fit); ``comparisons``: studies.results.metric_comparisons' rows
    (Williams' test with ``p`` and its Holm-adjusted ``p_holm``). ``krasula``:
    for the MOS of a single-stimulus study (ACR-HR, DCR) over all PVSs only,
    ``studies.results.krasula_evaluation``'s dict (``metrics``, ``comparisons``,
    ``notes``, or ``message`` saying why there are none); empty otherwise.
    """

    class Resampling(models.TextChoices):
        PVS = "pvs", "PVSs"
        SRC = "src", "SRCs (cluster bootstrap)"

    analysis = models.ForeignKey(StoredAnalysis, on_delete=models.CASCADE, related_name="correlations")
    target = models.CharField(max_length=8)
    family = models.CharField(max_length=100, blank=True)
    codec = models.CharField(max_length=100, blank=True)
    src = models.CharField(max_length=120, blank=True)
    resampling = models.CharField(
        max_length=8, choices=Resampling.choices, default=Resampling.PVS,
        help_text="What the bootstrap intervals resample: PVSs, or SRCs with all their PVSs (cluster bootstrap).")
    computed_at = models.DateTimeField(null=True, blank=True)
    n_bootstrap = models.PositiveIntegerField(default=0)
    ranking = models.JSONField(default=list, blank=True)
    comparisons = models.JSONField(default=list, blank=True)
    krasula = models.JSONField(
        default=dict, blank=True,
        help_text="Krasula et al. (QoMEX 2016) measures and resolving power per metric, and their tests per pair "
                  "(studies.results.krasula_evaluation); MOS of ACR-HR and DCR studies over all PVSs only.")

    class Meta:
        ordering = ["analysis_id", "target", "family", "codec", "src", "resampling"]
        constraints = [
            models.UniqueConstraint(fields=["analysis", "target", "family", "codec", "src", "resampling"],
                                    name="one_correlation_per_subset_and_resampling")
        ]

    def __str__(self):
        subset = "/".join(filter(None, [self.family, self.codec, self.src])) or "all"
        by_src = ", SRC resampling" if self.resampling == self.Resampling.SRC else ""
        return f"{self.analysis}: {self.target} on {subset}{by_src}"


class AnalysisJob(Job):
    """The study's analysis job, one row per study: ``queued`` while a run is
    scheduled (later votes then join that run instead of scheduling another)."""

    study = models.OneToOneField(Study, on_delete=models.CASCADE, related_name="analysis_job")

    def __str__(self):
        return f"analysis of {self.study.name}: {self.status}"


class DatasetExport(Job):
    """The study's dataset zip, made by the export job: one per study, a new one replaces the old."""

    study = models.OneToOneField(Study, on_delete=models.CASCADE, related_name="dataset_export")
    include_simulated = models.BooleanField(default=False)
    path = models.CharField(max_length=500, blank=True, help_text="The zip, relative to DATA_DIR; empty until made.")
    votes = models.PositiveIntegerField(null=True, blank=True)
    participants = models.PositiveIntegerField(null=True, blank=True)

    def __str__(self):
        return f"export of {self.study.name}: {self.status}"
