"""Celery tasks of the studies app: thin shells that call one service."""
from celery import shared_task

from qa_platform.core import lifecycle
from studies import analysis_store, export
from studies.models import DatasetExport


@shared_task(name="studies.analyse")
def study_analyse_task(study_id: int) -> int:
    """Recompute and store the study's analyses (``studies.analysis_store.analysis_job_run``)."""
    analysis_store.analysis_job_run(study_id=study_id)
    return study_id


@shared_task(base=lifecycle.JobTask, job_model="studies.DatasetExport", name="studies.export")
def study_export_task(export_id: int) -> int:
    """The export job's one step: write the study's dataset zip (``studies.export.export_write``)."""
    export.export_write(DatasetExport.objects.select_related("study").get(pk=export_id))
    return export_id
