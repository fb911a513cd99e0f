from django.contrib import admin

from metrics.models import MetricResult


@admin.register(MetricResult)
class MetricResultAdmin(admin.ModelAdmin):
    list_display = ["pvs", "metric", "status", "value", "pooling", "version", "device", "computed_at"]
    list_filter = ["metric", "status"]
    search_fields = ["reason"]
