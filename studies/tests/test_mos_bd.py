"""BD-rate on MOS: a study's per-PVS MOS fed to metrics.bd_rate, and ``manage.py mos_bd_rate``."""
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from metrics.bd_rate import bd_over_sources
from metrics.models import MetricResult, MetricStatus
from qa_platform.core.models import Hrc, JobStatus, Pvs
from studies import services
from studies.mos_bd import mos_bd, mos_curves
from studies.results import study_analysis
from studies.tests.factories import make_source

QPS = (45, 40, 35, 30)
KBPS = (8.0, 15.0, 31.0, 66.0)
MS_SSIM = (0.80, 0.86, 0.91, 0.95)  # the simulated observers' latent quality


@pytest.fixture
def rated_two_codecs(db, data_dir, settings):
    """Two SRCs, x265 and svtav1 at four QPs each; svtav1 reaches the same MS-SSIM at 0.6 x the rate.
    Rated by 24 simulated observers (6 votes per PVS)."""
    settings.FACEQA_BOOTSTRAP_RESAMPLES = 20
    pvs = []
    for index in range(2):
        source = make_source(data_dir, f"src{index}", seed=index)
        for codec, scale in (("x265", 1.0), ("svtav1", 0.6)):
            for qp, kbps, quality in zip(QPS, KBPS, MS_SSIM):
                hrc = Hrc.objects.get_or_create(codec=codec, params={"qp": qp}, params_key=f'{{"qp": {qp}}}',
                                                label=f"{codec} qp={qp}", curve=codec,
                                                family="conventional")[0]
                pvs.append(Pvs.objects.create(
                    source=source, hrc=hrc, status=JobStatus.DONE, kbps=scale * kbps, bitstream_bytes=100,
                    decoded_path=source.lossless_path, browser_path=source.browser_path,
                ))
                MetricResult.objects.create(pvs=pvs[-1], metric="ms_ssim", status=MetricStatus.OK, value=quality,
                                            version="test")
    study = services.study_create(name="bd", pvs=pvs, votes_per_pvs=6, trials_per_participant=8, trap=False, seed=3)
    services.study_simulate_ratings(study=study, participants=24, seed=3)
    return study


@pytest.mark.django_db
class TestMosBd:
    def test_the_curves_are_the_studys_mos_per_src_and_curve(self, rated_two_codecs):
        table = study_analysis(rated_two_codecs).pvs
        curves = mos_curves(table)
        assert sorted(curves) == ["src0", "src1"] and sorted(curves["src0"]) == ["svtav1", "x265"]
        rates, mos = curves["src0"]["svtav1"]
        assert rates == pytest.approx([0.6 * kbps for kbps in KBPS])
        expected = table[(table["src"] == "src0") & (table["codec"] == "svtav1")].sort_values("kbps")["mos"]
        assert mos == pytest.approx(expected.tolist())

    def test_bd_rate_on_mos_is_the_pure_function_on_those_curves(self, rated_two_codecs):
        (result,) = mos_bd(study=rated_two_codecs, anchor="x265")
        curves = mos_curves(study_analysis(rated_two_codecs).pvs)
        assert result == bd_over_sources(curves, anchor="x265", codec="svtav1")
        # Observers see svtav1 at 0.6 x the rate as x265 (truth: -40 %); the noise of 12 votes per PVS stays smaller.
        assert result.mean_rate is not None and -60 < result.mean_rate < -25

    def test_command_prints_the_report(self, rated_two_codecs):
        out = StringIO()
        call_command("mos_bd_rate", study="bd", anchor="x265", stdout=out)
        text = out.getvalue()
        assert text.startswith("MOS: higher is better.") and "svtav1 against x265" in text
        assert "  src0 " in text and "  src1 " in text

    @pytest.mark.parametrize("options, message", [
        ({"study": "nope", "anchor": "x265"}, "no study named 'nope'"),
        ({"study": "bd", "anchor": "vp9"}, "no rated PVS of study 'bd' on curve vp9; curves with one: svtav1, x265"),
    ])
    def test_unknown_names_are_command_errors(self, rated_two_codecs, options, message):
        with pytest.raises(CommandError, match=message):
            call_command("mos_bd_rate", **options)
