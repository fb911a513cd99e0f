"""The metric-by-metric agreement matrix (Spearman over PVSs) and its place on the dashboard."""
from fractions import Fraction

import pytest
from django.urls import reverse

from conftest import synthetic_frames
from metrics.models import MetricResult, MetricStatus
from metrics.selectors import metric_agreement
from metrics.tests.factories import make_pvs


@pytest.fixture
def five_pvs(db, data_dir):
    """Five PVSs where PSNR rises, AKD falls (lower is better) and SSIM is shuffled."""
    frames = synthetic_frames(t=3, size=16)
    rows = []
    for i, ssim in enumerate([0.5, 0.9, 0.6, 0.8, 0.7]):
        pvs = make_pvs(data_dir, frames, frames, Fraction(25), name=f"src{i}")
        for metric, value in (("psnr_y", 30.0 + i), ("akd", 0.5 - 0.1 * i), ("ssim", ssim)):
            MetricResult.objects.create(pvs=pvs, metric=metric, status=MetricStatus.OK, value=value, version="t")
        rows.append(pvs)
    return rows


def test_rank_agreement_is_oriented_by_direction(five_pvs):
    agreement = metric_agreement()
    rho = {(a, b): agreement.rho[i][j] for i, a in enumerate(agreement.names) for j, b in enumerate(agreement.names)}
    assert agreement.names == ["psnr_y", "ssim", "akd"]
    assert rho["psnr_y", "akd"] == pytest.approx(1.0)  # AKD falls as PSNR rises: the same ranking of quality
    assert rho["psnr_y", "ssim"] == pytest.approx(0.3)  # 1 - 6 * 14 / (5 * 24)
    assert agreement.n[0][2] == 5


def test_dashboard_shows_the_matrix(client, five_pvs):
    page = client.get(reverse("metrics:rd") + "?metric=psnr_y").content.decode()
    assert "Metric agreement" in page and "agreement-figure" in page
