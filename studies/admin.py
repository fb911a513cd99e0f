from django.contrib import admin

from studies.models import (
    AnalysisJob,
    DatasetExport,
    Participant,
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
    readonly_fields = ["seed", "completion_code"]
    inlines = [StimulusInline]


@admin.register(Participant)
class ParticipantAdmin(admin.ModelAdmin):
    list_display = ["anonymous_id", "study", "platform", "is_simulated", "consented_at", "completed_at"]
    list_filter = ["study", "platform", "is_simulated"]
    readonly_fields = ["token", "assignment_seed", "viewing", "viewing_checked_at"]


@admin.register(Trial)
class TrialAdmin(admin.ModelAdmin):
    list_display = ["participant", "position", "stimulus"]
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
