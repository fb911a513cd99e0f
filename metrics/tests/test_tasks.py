import pytest

from metrics.models import MetricResult, MetricStatus
from metrics.tasks import pvs_metrics_task
from metrics.tests.factories import make_pvs

pytestmark = pytest.mark.django_db


class TestPvsMetricsTask:
    def test_is_registered_under_the_stage_name(self):
        assert pvs_metrics_task.name == "metrics.pvs_metrics"

    def test_loads_the_pvs_and_stores_its_metrics(self, data_dir, small_clip):
        frames, fps = small_clip
        pvs = make_pvs(data_dir, frames, frames, fps, name="pattern")
        assert pvs_metrics_task.apply(args=[pvs.pk, ["psnr_y", "ssim"]]).get() == pvs.pk
        statuses = dict(MetricResult.objects.filter(pvs=pvs).values_list("metric", "status"))
        assert statuses == {"psnr_y": MetricStatus.OK, "ssim": MetricStatus.OK}

    def test_a_stage_says_so_on_the_pvs_and_stores_its_devices_metrics(self, data_dir, small_clip):
        frames, fps = small_clip
        pvs = make_pvs(data_dir, frames, frames, fps, name="pattern")
        pvs_metrics_task.apply(args=[pvs.pk], kwargs={"metric_names": ["psnr_y", "vmaf"], "stage": "gpu"}).get()
        assert list(MetricResult.objects.filter(pvs=pvs).values_list("metric", flat=True)) == ["vmaf"]
        pvs.refresh_from_db()
        assert pvs.message == "computing gpu metrics"


def test_a_pvs_job_chains_coding_both_metrics_stages_on_their_queues_and_finish(data_dir, small_clip, monkeypatch):
    from qa_platform.core import jobs

    frames, fps = small_clip
    pvs = make_pvs(data_dir, frames, frames, fps, name="pattern")
    monkeypatch.setattr(jobs, "pvs_stage_queue", lambda pvs, queue: "gpu" if queue == "codec" else queue)
    sent = []
    monkeypatch.setattr("celery.canvas._chain.apply_async", lambda self, **options: sent.append(self))
    jobs.pvs_enqueue(pvs)
    steps = [(task.task, task.options["queue"], task.kwargs, task.options["priority"]) for task in sent[0].tasks]
    assert steps == [
        ("qa_platform.pvs_code", "gpu", {}, 9),
        ("metrics.pvs_metrics", "cpu", {"stage": "cpu"}, 8),
        ("metrics.pvs_metrics", "gpu", {"stage": "gpu"}, 7),
        ("qa_platform.pvs_finish", "cpu", {}, 6),
    ]
