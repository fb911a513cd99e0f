"""How a PVS job travels through Celery: a chain of stage tasks.

The stages are Celery task names listed in ``settings.FACEQA_PVS_STAGES``
(coding here, metrics in the ``metrics`` app), so ``qa_platform`` names the
metrics stages without importing them. Each stage takes the PVS id and its
keyword arguments from the setting, and is one step of the job's lifecycle
(``qa_platform.core.lifecycle``): it claims the PVS, beats while it runs and hands
it to the next stage; the last one ends it done, and a stage that raises ends
it failed with its error and stops the chain.
"""
from celery import chain, signature
from django.conf import settings

from qa_platform.codec import registry as codec_registry
from qa_platform.core.lifecycle import jobs_wait, status_counts
from qa_platform.core.models import Pvs

# A stage whose queue is CODEC_QUEUE runs on the queue of the PVS's codec
# device (``cpu`` or ``gpu``).
CODEC_QUEUE = "codec"


def pvs_stage_queue(pvs: Pvs, queue: str) -> str:
    """The Celery queue a stage of this PVS runs on."""
    if queue == CODEC_QUEUE:
        return str(codec_registry.get_codec(pvs.hrc.codec).device)
    return queue


# Redis priority of the first stage; each later stage is served one step sooner.
FIRST_STAGE_PRIORITY = 9


def pvs_enqueue(pvs: Pvs, task_ids: list[str]):
    """Send the PVS's job to the broker: its stages, with the task ids ``lifecycle.job_queue`` drew for them."""
    stages = [
        signature(step["task"], args=[pvs.pk], kwargs=step.get("kwargs", {}), queue=pvs_stage_queue(pvs, step["queue"]),
                  priority=max(FIRST_STAGE_PRIORITY - index, 0), immutable=True, task_id=task_id)
        for index, (step, task_id) in enumerate(zip(settings.FACEQA_PVS_STAGES, task_ids, strict=True))
    ]
    return chain(*stages).apply_async()


def pvs_wait(ids: list[int], timeout: float | None = None) -> dict[str, int]:
    """Show a progress bar until every PVS in ``ids`` is done or failed; return the final count per status.

    Raises ``TimeoutError`` after ``timeout`` seconds (the jobs go on).
    """
    return status_counts(jobs_wait(Pvs, ids, desc="PVS jobs", unit="PVS", timeout=timeout))
