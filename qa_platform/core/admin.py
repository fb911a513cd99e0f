from django.contrib import admin

from qa_platform.core.models import Hrc, Pvs, Source


@admin.register(Source)
class SourceAdmin(admin.ModelAdmin):
    list_display = ["name", "size", "fps_num", "fps_den", "frame_count", "crop_size", "created_at"]
    search_fields = ["name", "origin_path", "origin_sha256"]


@admin.register(Hrc)
class HrcAdmin(admin.ModelAdmin):
    list_display = ["label", "codec", "curve", "family", "codec_version", "params_key"]
    list_filter = ["codec", "family"]


@admin.register(Pvs)
class PvsAdmin(admin.ModelAdmin):
    list_display = [
        "id", "source", "hrc", "status", "kbps", "encode_seconds", "decode_seconds",
        "device", "attempts", "heartbeat_at", "finished_at",
    ]
    list_filter = ["status", "hrc__codec", "source"]
    search_fields = ["source__name", "hrc__label", "message", "last_error"]
    readonly_fields = ["message", "last_error", "task_ids", "task_id", "heartbeat_at"]
