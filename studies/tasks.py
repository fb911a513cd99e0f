"""Celery tasks of the studies app: thin shells that call one service."""
from celery import shared_task

from studies import analysis_store, export


@shared_task(name="studies.analyse")
def study_analyse_task(study_id: int) -> int:
    """Recompute and store the study's analyses (``studies.analysis_store.analysis_job_run``)."""
    analysis_store.analysis_job_run(study_id=study_id)
    return study_id


@shared_task(name="studies.export")
def study_export_task(study_id: int) -> int:
    """Write the study's dataset zip (``studies.export.export_job_run``)."""
    export.export_job_run(study_id=study_id)
    return study_id
