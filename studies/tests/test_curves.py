"""HRC facts stored once: every page and BD-rate groups by the stored ``Hrc.curve``, and no page loads a plugin."""
import pytest
from django.urls import reverse

from metrics.bd import codec_bd
from metrics.models import MetricResult, MetricStatus
from qa_platform.codec import registry as codec_registry
from qa_platform.core.models import JobStatus, Pvs
from qa_platform.core.services import hrcs_for_codec
from studies import services
from studies.analysis_store import analyses_compute
from studies.mos_bd import mos_bd, mos_curves
from studies.results import study_analysis
from studies.tests.factories import make_source

RATE_POINTS = [{"q": 6.0, "key_qp": 47}, {"q": 4.0, "key_qp": 42}, {"q": 2.0, "key_qp": 37}, {"q": 1.0, "key_qp": 32}]
KBPS = (4.0, 8.0, 16.0, 32.0)
MS_SSIM = (0.80, 0.86, 0.91, 0.95)
PLAIN, VARIANT = "landmark-warp", "landmark-warp key_period=10"


@pytest.fixture
def rated_variants(db, data_dir, settings):
    """Two SRCs through landmark-warp at four rate points, and again with key_period=10 (HRCs made by the
    core service, so their curves are the plugin's), the variant at 0.7 x the rate for the same MS-SSIM.
    Rated by 24 simulated observers."""
    settings.FACEQA_BOOTSTRAP_RESAMPLES = 20
    hrcs = [(hrc, 1.0, index) for index, hrc in enumerate(hrcs_for_codec(codec_name="landmark-warp",
                                                                         rate_points=RATE_POINTS))]
    hrcs += [(hrc, 0.7, index) for index, hrc in enumerate(hrcs_for_codec(
        codec_name="landmark-warp", rate_points=[{**point, "key_period": 10} for point in RATE_POINTS]))]
    pvs = []
    for n in range(2):
        source = make_source(data_dir, f"src{n}", seed=n)
        for hrc, scale, index in hrcs:
            pvs.append(Pvs.objects.create(
                source=source, hrc=hrc, status=JobStatus.DONE, kbps=scale * KBPS[index], bitstream_bytes=100,
                decoded_path=source.lossless_path, browser_path=source.browser_path,
            ))
            MetricResult.objects.create(pvs=pvs[-1], metric="ms_ssim", status=MetricStatus.OK,
                                        value=MS_SSIM[index], version="test")
    study = services.study_create(name="variants", pvs=pvs, votes_per_pvs=6, trials_per_participant=8, trap=False,
                                  seed=3)
    services.study_simulate_ratings(study=study, participants=24, seed=3)
    return study


def test_a_key_period_variant_is_a_curve_of_its_own_in_bd_rate_on_metrics_and_on_mos(rated_variants):
    (on_metric,) = codec_bd(metric="ms_ssim", anchor=PLAIN)
    (on_mos,) = mos_bd(study=rated_variants, anchor=PLAIN)
    assert (on_metric.codec, on_metric.anchor) == (on_mos.codec, on_mos.anchor) == (VARIANT, PLAIN)
    assert on_metric.mean_rate == pytest.approx(-30.0)
    assert on_mos.mean_rate is not None and on_mos.mean_rate < 0
    assert sorted(mos_curves(study_analysis(rated_variants).pvs)["src0"]) == [PLAIN, VARIANT]


def test_no_researcher_page_loads_a_codec_plugin(rated_variants, client, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a page loaded codec plugins")

    monkeypatch.setattr(codec_registry, "load_codecs", refuse)
    monkeypatch.setattr(codec_registry, "load_plugin_file", refuse)
    analyses_compute(study=rated_variants)  # the analysis job (study pages read what it stored)
    pvs = Pvs.objects.filter(hrc__curve=VARIANT).first()
    pages = [
        reverse("metrics:database"), reverse("metrics:rd") + "?metric=ms_ssim",
        reverse("metrics:rd") + "?metric=ms_ssim&src=src0", reverse("metrics:pvs", args=[pvs.pk]),
        reverse("studies:dashboard", args=["variants"]), reverse("studies:analysis", args=["variants"]),
    ]
    for page in pages:
        response = client.get(page)
        assert response.status_code == 200, page
        assert "key_period=10" in response.content.decode(), page
