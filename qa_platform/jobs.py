"""How a PVS job travels through Celery: a chain of stage tasks.

The stages are Celery task names listed in ``settings.FACEQA_PVS_STAGES``
(coding here, metrics in the ``metrics`` app), so ``qa_platform`` names the
metrics stage without importing it. Each stage takes the PVS id. The chain
ends with ``qa_platform.pvs_finish``; any stage that raises stops the chain
and its error is recorded on the PVS by ``qa_platform.pvs_failed``.
"""
from celery import chain, signature
from django.conf import settings

from qa_platform import codec_registry
from qa_platform.models import Pvs

# A stage whose queue is CODEC_QUEUE runs on the queue of the PVS's codec
# device (``cpu`` or ``gpu``).
CODEC_QUEUE = "codec"


def pvs_stage_queue(pvs: Pvs, queue: str) -> str:
    """The Celery queue a stage of this PVS runs on."""
    if queue == CODEC_QUEUE:
        return str(codec_registry.get_codec(pvs.hrc.codec).device)
    return queue


def pvs_enqueue(pvs: Pvs):
    """Send the PVS's job (every stage, then finish) to the broker."""
    stages = [
        signature(stage["task"], args=[pvs.pk], queue=pvs_stage_queue(pvs, stage["queue"]), immutable=True)
        for stage in settings.FACEQA_PVS_STAGES
    ]
    stages.append(signature("qa_platform.pvs_finish", args=[pvs.pk], queue="cpu", immutable=True))
    return chain(*stages).apply_async(link_error=signature("qa_platform.pvs_failed"))
