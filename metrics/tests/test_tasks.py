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
