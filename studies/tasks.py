"""Celery tasks of the studies app: thin shells that call one service."""
from celery import shared_task

from qa_platform.core import lifecycle
from studies import analysis_store, export
from studies.models import AnalysisJob, DatasetExport


@shared_task(base=lifecycle.JobTask, job_model="studies.AnalysisJob", name="studies.analyse")
def study_analyse_task(job_id: int) -> int:
    """The analysis job's one step: compute and store the study's analyses (``analyses_compute``)."""
    analysis_store.analyses_compute(study=AnalysisJob.objects.select_related("study").get(pk=job_id).study)
    return job_id


@shared_task(base=lifecycle.JobTask, job_model="studies.DatasetExport", name="studies.export")
def study_export_task(export_id: int) -> int:
    """The export job's one step: write the study's dataset zip (``studies.export.export_write``)."""
    export.export_write(DatasetExport.objects.select_related("study").get(pk=export_id))
    return export_id
