"""Celery tasks of the PVS job: thin shells that load a row and call one service."""
from celery import shared_task

from qa_platform.core import services
from qa_platform.core.models import Pvs


@shared_task(name="qa_platform.pvs_code")
def pvs_code_task(pvs_id: int) -> int:
    """Stage 1 of a PVS job: encode, decode, store."""
    pvs = Pvs.objects.select_related("source", "hrc").get(pk=pvs_id)
    services.pvs_mark_running(pvs=pvs, stage="coding")
    services.pvs_code(pvs=pvs)
    services.pvs_mark_running(pvs=pvs, stage="coded; computing metrics")
    return pvs_id


@shared_task(name="qa_platform.pvs_finish")
def pvs_finish_task(pvs_id: int) -> int:
    """Last stage: every stage succeeded."""
    services.pvs_mark_done(pvs=Pvs.objects.get(pk=pvs_id))
    return pvs_id


@shared_task(name="qa_platform.pvs_failed")
def pvs_failed_task(request, exc, traceback):
    """Errback of every stage: record the error on the PVS (its id is the stage's argument)."""
    services.pvs_mark_failed(pvs_id=request.args[0], error=exc)
