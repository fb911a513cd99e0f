"""Celery tasks of the PVS job: thin shells that load a row and call one service.

Each is a step of the job's lifecycle (``lifecycle.JobTask``): it runs only
when it claims the PVS, and hands it on (or ends it done or failed) after.
"""
from celery import shared_task

from qa_platform.core import lifecycle, services
from qa_platform.core.models import Pvs


@shared_task(base=lifecycle.JobTask, job_model="qa_platform.Pvs", name="qa_platform.pvs_code")
def pvs_code_task(pvs_id: int) -> int:
    """Stage 1 of a PVS job: encode, decode, store."""
    pvs = Pvs.objects.select_related("source", "hrc").get(pk=pvs_id)
    lifecycle.job_note(pvs, "coding")
    services.pvs_code(pvs=pvs)
    return pvs_id
