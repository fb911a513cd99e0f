import pytest

from metrics.models import MetricResult, MetricStatus
from metrics.tasks import pvs_metrics_task
from metrics.tests.factories import make_pvs
from qa_platform.core.lifecycle import job_queue

pytestmark = pytest.mark.django_db


def _queued_pvs(data_dir, small_clip):
    """A coded PVS whose job is queued with one step (the metrics stage): (PVS, its task id)."""
    frames, fps = small_clip
    pvs = make_pvs(data_dir, frames, frames, fps, name="pattern")
    return pvs, job_queue(pvs)[0]


class TestPvsMetricsTask:
    def test_is_registered_under_the_stage_name(self):
        assert pvs_metrics_task.name == "metrics.pvs_metrics"

    def test_loads_the_pvs_and_stores_its_metrics(self, data_dir, small_clip):
        pvs, task_id = _queued_pvs(data_dir, small_clip)
        assert pvs_metrics_task.apply(args=[pvs.pk, ["psnr_y", "ssim"]], task_id=task_id).get() == pvs.pk
        statuses = dict(MetricResult.objects.filter(pvs=pvs).values_list("metric", "status"))
        assert statuses == {"psnr_y": MetricStatus.OK, "ssim": MetricStatus.OK}
        pvs.refresh_from_db()
        assert pvs.status == "done" and pvs.attempts == 1

    def test_a_stage_says_so_on_the_pvs_and_stores_its_devices_metrics(self, data_dir, small_clip, monkeypatch):
        pvs, task_id = _queued_pvs(data_dir, small_clip)
        notes = []
        monkeypatch.setattr("metrics.services.pvs_compute_metrics",
                            lambda pvs, **kwargs: notes.append(type(pvs).objects.get(pk=pvs.pk).message))
        pvs_metrics_task.apply(args=[pvs.pk], kwargs={"metric_names": ["psnr_y", "vmaf_torch"], "stage": "gpu"},
                               task_id=task_id).get()
        assert notes == ["computing gpu metrics"]

    def test_stores_only_its_devices_metrics(self, data_dir, small_clip):
        pvs, task_id = _queued_pvs(data_dir, small_clip)
        pvs_metrics_task.apply(args=[pvs.pk], kwargs={"metric_names": ["psnr_y", "vmaf_torch"], "stage": "gpu"},
                               task_id=task_id).get()
        assert list(MetricResult.objects.filter(pvs=pvs).values_list("metric", flat=True)) == ["vmaf_torch"]

    def test_a_message_that_is_not_the_step_due_computes_nothing(self, data_dir, small_clip):
        pvs, _ = _queued_pvs(data_dir, small_clip)
        assert pvs_metrics_task.apply(args=[pvs.pk, ["psnr_y"]], task_id="another-delivery").get() is None
        assert not MetricResult.objects.filter(pvs=pvs).exists()


def test_a_pvs_job_chains_coding_and_both_metrics_stages_on_their_queues_with_their_task_ids(
    data_dir, small_clip, monkeypatch
):
    from qa_platform.core import jobs

    frames, fps = small_clip
    pvs = make_pvs(data_dir, frames, frames, fps, name="pattern")
    monkeypatch.setattr(jobs, "pvs_stage_queue", lambda pvs, queue: "gpu" if queue == "codec" else queue)
    sent = []
    monkeypatch.setattr("celery.canvas._chain.apply_async", lambda self, **options: sent.append(self))
    jobs.pvs_enqueue(pvs, ["a", "b", "c"])
    steps = [(task.task, task.options["queue"], task.kwargs, task.options["priority"], task.options["task_id"])
             for task in sent[0].tasks]
    assert steps == [
        ("qa_platform.pvs_code", "gpu", {}, 9, "a"),
        ("metrics.pvs_metrics", "cpu", {"stage": "cpu"}, 8, "b"),
        ("metrics.pvs_metrics", "gpu", {"stage": "gpu"}, 7, "c"),
    ]
