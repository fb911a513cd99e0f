"""How a PVS job travels through Celery: a chain of stage tasks.

The stages are Celery task names listed in ``settings.FACEQA_PVS_STAGES``
(coding here, metrics in the ``metrics`` app), so ``qa_platform`` names the
metrics stages without importing them. Each stage takes the PVS id and its
keyword arguments from the setting. The chain
ends with ``qa_platform.pvs_finish``; any stage that raises stops the chain
and its error is recorded on the PVS by ``qa_platform.pvs_failed``.
"""
import time

from celery import chain, signature
from django.conf import settings
from tqdm import tqdm

from qa_platform.codec import registry as codec_registry
from qa_platform.core.models import JobStatus, Pvs
from qa_platform.core.selectors import pvs_status_counts

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


def pvs_enqueue(pvs: Pvs):
    """Send the PVS's job (every stage, then finish) to the broker."""
    steps = [*settings.FACEQA_PVS_STAGES, {"task": "qa_platform.pvs_finish", "queue": "cpu"}]
    stages = [
        signature(step["task"], args=[pvs.pk], kwargs=step.get("kwargs", {}), queue=pvs_stage_queue(pvs, step["queue"]),
                  priority=max(FIRST_STAGE_PRIORITY - index, 0), immutable=True)
        for index, step in enumerate(steps)
    ]
    return chain(*stages).apply_async(link_error=signature("qa_platform.pvs_failed"))


def pvs_wait(ids: list[int], timeout: float | None = None, poll_seconds: float = 1.0) -> dict[str, int]:
    """Show a progress bar until every PVS in ``ids`` is done or failed.

    Returns the final count per status. Raises ``TimeoutError`` after
    ``timeout`` seconds (the jobs go on).
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    with tqdm(total=len(ids), unit="PVS", desc="PVS jobs") as bar:
        while True:
            counts = pvs_status_counts(ids)
            ended = counts[JobStatus.DONE] + counts[JobStatus.FAILED]
            bar.update(ended - bar.n)
            bar.set_postfix({status: n for status, n in counts.items() if n}, refresh=True)
            if ended == len(ids):
                return counts
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"{len(ids) - ended} PVS jobs still queued or running; they go on")
            time.sleep(poll_seconds)
