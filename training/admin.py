from django.contrib import admin

from training.models import TrainingRun


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
    list_display = ["id", "codec", "status", "epochs_done", "epochs", "percent", "loss", "loss_type", "device",
                    "checkpoint_sha256", "worker", "created_at"]
    list_filter = ["status", "codec"]
    search_fields = ["checkpoint_sha256", "message"]
    readonly_fields = ["message", "checkpoint_path", "checkpoint_sha256"]
