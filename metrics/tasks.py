"""Celery tasks of the metrics app: thin shells that load a row and call one service."""
from celery import shared_task

from metrics import services
from qa_platform.core import lifecycle
from qa_platform.core.models import Pvs


@shared_task(base=lifecycle.JobTask, job_model="qa_platform.Pvs", name="metrics.pvs_metrics")
def pvs_metrics_task(pvs_id: int, metric_names: list[str] | None = None, stage: str | None = None) -> int:
    """PVS job stage: compute and store the PVS's metrics (all registered ones
    by default; with ``stage`` ``cpu`` or ``gpu``, those of that device)."""
    pvs = Pvs.objects.select_related("source").get(pk=pvs_id)
    lifecycle.job_note(pvs, f"computing {stage or 'all'} metrics")
    services.pvs_compute_metrics(pvs=pvs, metric_names=metric_names, stage=stage)
    return pvs_id
