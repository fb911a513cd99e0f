from django import forms
from django.contrib import admin

from studies.crowd_ids import crowd_id_hash
from studies.models import (
    AnalysisJob,
    BlockedCrowdId,
    DatasetExport,
    Participant,
    Qualification,
    Stimulus,
    StoredAnalysis,
    Study,
    Trial,
    Vote,
)


class StimulusInline(admin.TabularInline):
    model = Stimulus
    extra = 0
    fields = ["role", "source", "pvs", "media_path", "expected_scores"]
    raw_id_fields = ["source", "pvs"]


@admin.register(Study)
class StudyAdmin(admin.ModelAdmin):
    list_display = ["name", "method", "votes_per_pvs", "trials_per_participant", "is_open", "created_at"]
    # Fixed when the study is made: its stimuli and every stored vote depend on them.
    readonly_fields = ["seed", "completion_code", "method", "dimensions", "presentation", "gap_ms", "pair_design"]
    inlines = [StimulusInline]


@admin.register(Participant)
class ParticipantAdmin(admin.ModelAdmin):
    list_display = ["anonymous_id", "study", "platform", "is_simulated", "consented_at", "completed_at"]
    list_filter = ["study", "platform", "is_simulated"]
    readonly_fields = ["token", "assignment_seed", "viewing", "viewing_checked_at", "qualification"]


@admin.register(Trial)
class TrialAdmin(admin.ModelAdmin):
    list_display = ["participant", "position", "stimulus", "repeat"]
    list_filter = ["participant__study"]


@admin.register(Vote)
class VoteAdmin(admin.ModelAdmin):
    list_display = ["trial", "score", "watch_seconds", "stall_count", "replays", "created_at"]
    list_filter = ["trial__participant__study", "score"]


@admin.register(StoredAnalysis)
class StoredAnalysisAdmin(admin.ModelAdmin):
    list_display = ["study", "dimension", "model", "ci", "include_simulated", "computed_at", "n_votes", "study_votes",
                    "message"]
    list_filter = ["study", "dimension", "model"]
    exclude = ["pvs", "participants", "breakdown", "pairs"]


@admin.register(AnalysisJob, DatasetExport)
class StudyJobAdmin(admin.ModelAdmin):
    list_display = ["study", "status", "queued_at", "started_at", "finished_at", "message"]


class BlockedCrowdIdForm(forms.ModelForm):
    """Takes the crowd id itself and stores only its keyed hash (``studies.crowd_ids``)."""

    crowd_id = forms.CharField(max_length=200, help_text="The Prolific or MTurk id; it is hashed, never stored.")

    class Meta:
        model = BlockedCrowdId
        fields = ["platform", "reason"]

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("platform") and cleaned.get("crowd_id"):
            self.instance.id_hash = crowd_id_hash(cleaned["platform"], cleaned["crowd_id"])
            if BlockedCrowdId.objects.filter(platform=cleaned["platform"], id_hash=self.instance.id_hash).exists():
                raise forms.ValidationError("this crowd id is blocked already")
        return cleaned


@admin.register(BlockedCrowdId)
class BlockedCrowdIdAdmin(admin.ModelAdmin):
    list_display = ["platform", "id_hash", "reason", "created_at"]
    list_filter = ["platform"]
    search_fields = ["reason"]

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:  # adding: from a crowd id
            kwargs["form"] = BlockedCrowdIdForm
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return ["platform", "id_hash", "created_at"] if obj is not None else []


@admin.register(Qualification)
class QualificationAdmin(admin.ModelAdmin):
    list_display = ["platform", "id_hash", "passed", "tested_at"]
    list_filter = ["platform", "passed"]
    # The questionnaire answers are reported in aggregate only (dataset card, analysis page), never per person.
    readonly_fields = ["platform", "id_hash", "passed", "acuity", "tested_at"]
    exclude = ["questionnaire"]
