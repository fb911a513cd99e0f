from django.contrib import admin

from training.models import TrainingRun


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
    list_display = ["id", "codec", "status", "epochs_done", "epochs", "percent", "loss", "loss_type", "device",
                    "checkpoint_sha256", "worker", "attempts", "heartbeat_at", "created_at"]
    list_filter = ["status", "codec"]
    search_fields = ["checkpoint_sha256", "message", "last_error"]
    readonly_fields = ["message", "last_error", "task_ids", "task_id", "heartbeat_at", "checkpoint_path",
                       "checkpoint_sha256"]
