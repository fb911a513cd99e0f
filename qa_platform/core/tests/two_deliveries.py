"""The same PVS message delivered to two workers at once, run by ``test_lifecycle`` in a process of its own.

Run it with ``manage.py shell -c "from qa_platform.core.tests.two_deliveries import main; main()"`` against a
migrated, empty data directory (``FACEQA_DATA_DIR``): two threads deliver the coding message of one PVS
job to the real ``qa_platform.pvs_code`` task at the same moment, each encode lasting a second at least,
then the job's metrics messages are delivered once (as the holder's chain sends them). Prints one JSON
line: encodes run, what each delivery returned, the drops logged, and the PVS and its files as they end.
"""
import json
import logging
import threading
import time
from fractions import Fraction
from pathlib import Path

from django.conf import settings
from django.db import connections

from conftest import synthetic_frames
from metrics.models import MetricResult
from metrics.tasks import pvs_metrics_task
from qa_platform.codec import registry as codec_registry
from qa_platform.codec import video
from qa_platform.core import lifecycle
from qa_platform.core.models import Hrc, Pvs, Source
from qa_platform.core.tasks import pvs_code_task

ENCODE_SECONDS = 1.0


class _Drops(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def _slow_counted_encodes(codec_class) -> list[float]:
    """Make every encode of ``codec_class`` last ENCODE_SECONDS more and note when it started."""
    started, encode = [], codec_class.encode

    def slow_encode(self, *args, **kwargs):
        started.append(time.time())
        time.sleep(ENCODE_SECONDS)
        return encode(self, *args, **kwargs)

    codec_class.encode = slow_encode
    return started


def _deliver(task, task_id: str, pvs_id: int, barrier: threading.Barrier, returned: list) -> None:
    barrier.wait()
    try:
        returned.append(str(task.apply(args=[pvs_id], task_id=task_id).get()))
    finally:
        connections.close_all()


def main() -> None:
    data_dir = Path(settings.DATA_DIR)
    video.write_lossless(data_dir / "sources" / "src" / "src.mkv", synthetic_frames(t=25, size=64), Fraction(25))
    source = Source.objects.create(
        name="src", origin_path="/dev/null", origin_sha256="0" * 64, size=64, fps_num=25, max_frames=25,
        frame_count=25, crop_x=0, crop_y=0, crop_size=64, lossless_path="sources/src/src.mkv",
        browser_path="sources/src/src.mp4",
    )
    hrc = Hrc.objects.create(codec="x264", params={"qp": 30}, params_key='{"qp": 30}', label="x264 qp=30")
    pvs = Pvs.objects.create(source=source, hrc=hrc)
    coding, *metrics_stages = lifecycle.job_queue(pvs, steps=len(settings.FACEQA_PVS_STAGES))
    encodes = _slow_counted_encodes(type(codec_registry.get_codec("x264")))
    drops = _Drops()
    logging.getLogger(lifecycle.__name__).addHandler(drops)
    barrier, returned = threading.Barrier(2), []
    workers = [threading.Thread(target=_deliver, args=(pvs_code_task, coding, pvs.pk, barrier, returned))
               for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    for task_id, stage in zip(metrics_stages, settings.FACEQA_PVS_STAGES[1:], strict=True):
        pvs_metrics_task.apply(args=[pvs.pk], kwargs=stage.get("kwargs", {}), task_id=task_id).get()
    pvs.refresh_from_db()
    folder = data_dir / pvs.bitstream_path
    print(json.dumps({
        "encodes": len(encodes), "returned": returned, "dropped": drops.messages, "status": pvs.status,
        "attempts": pvs.attempts, "bitstream_bytes": pvs.bitstream_bytes,
        "bytes_on_disk": sum(p.stat().st_size for p in folder.iterdir()),
        "decoded_frames": len(video.read_frames(data_dir / pvs.decoded_path)[0]),
        "browser_mp4": (data_dir / pvs.browser_path).is_file(),
        "psnr_y": MetricResult.objects.get(pvs=pvs, metric="psnr_y").status,
    }))
