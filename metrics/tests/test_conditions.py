"""The JVET GFVC common test conditions: their rate points, which SRCs and HRCs they take, the results
table and its BD-rates against the VVC anchor, the dashboard page and the command."""
import csv
import dataclasses
import io
from pathlib import Path

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from conftest import FACES_DIR
from metrics.bd_rate import bd_rate
from metrics.conditions import conditions_csv, conditions_report
from metrics.models import MetricResult, MetricStatus
from metrics.services import pvs_compute_metrics
from qa_platform.codec import registry as codec_registry
from qa_platform.codec.base import params_key
from qa_platform.core.conditions import JVET_GFVC, ConditionsError, conditions_build, get_conditions
from qa_platform.core.models import Hrc, JobStatus, Pvs, Source
from qa_platform.core.services import pvs_code, source_ingest

REPO_CODECS = Path(__file__).resolve().parents[2] / "codecs"


@pytest.fixture(scope="module")
def codecs():
    return codec_registry.load_codecs([REPO_CODECS])


class TestRatePoints:
    def test_the_anchor_is_vvc_at_qp_52_to_37(self, codecs):
        assert JVET_GFVC.rate_points(codecs["vvc"]) == [{"qp": 52}, {"qp": 47}, {"qp": 42}, {"qp": 37}]

    def test_a_generative_codec_gets_one_vvc_key_frame_at_qp_52_to_22(self, codecs):
        points = JVET_GFVC.rate_points(codecs["landmark-warp"])
        defaults = codecs["landmark-warp"].default_rate_points
        middle = defaults[len(defaults) // 2]["q"]
        assert points == [{"q": middle, "key_codec": "vvc", "key_qp": qp} for qp in (52, 42, 32, 22)]

    def test_a_hybrid_codec_varies_its_vvc_layer_with_the_key_frame_at_qp_22(self, codecs):
        points = JVET_GFVC.rate_points(codecs["hybrid-landmark-warp"])
        assert [(p["key_qp"], p["aux_codec"], p["aux_qp"]) for p in points] == [
            (22, "vvc", 52), (22, "vvc", 47), (22, "vvc", 42), (22, "vvc", 37)]

    def test_other_anchors_have_none(self, codecs):
        assert JVET_GFVC.rate_points(codecs["x265"]) == []

    def test_every_rate_point_is_covered_and_default_hrcs_are_not(self, codecs):
        for name, cls in codecs.items():
            assert all(JVET_GFVC.covers(name, point) for point in JVET_GFVC.rate_points(cls)), name
            if name != "vvc":
                assert not any(JVET_GFVC.covers(name, point) for point in cls.default_rate_points), name

    def test_every_rate_point_is_accepted_by_its_codec(self, codecs):
        for name, cls in codecs.items():
            for point in JVET_GFVC.rate_points(cls):
                assert cls().check_params(point) == point, name

    def test_unknown_conditions_are_named(self):
        with pytest.raises(ConditionsError, match="known: jvet-gfvc"):
            get_conditions("mpeg-ctc")


def make_source(name: str, size: int = 256, frames: int = 125, fps: int = 25) -> Source:
    return Source.objects.create(
        name=name, origin_path=f"/clips/{name}.mp4", origin_sha256=name.ljust(64, "0"), size=size, fps_num=fps,
        max_frames=frames, frame_count=frames, crop_x=0, crop_y=0, crop_size=size,
        lossless_path=f"sources/{name}.mkv", browser_path=f"sources/{name}.mp4")


def done_pvs(source: Source, codec: str, params: dict, curve: str, kbps: float, **values) -> Pvs:
    hrc, _ = Hrc.objects.get_or_create(codec=codec, params_key=params_key(params), defaults={
        "params": params, "label": f"{codec} {params_key(params)}", "curve": curve})
    pvs = Pvs.objects.create(source=source, hrc=hrc, status=JobStatus.DONE, kbps=kbps, bitstream_bytes=1)
    for metric, value in values.items():
        MetricResult.objects.create(pvs=pvs, metric=metric, status=MetricStatus.OK, value=value)
    return pvs


# A synthetic rate-quality relation per curve: PSNR = a + b log2(kbps).
ANCHOR_RATES = [6.0, 10.0, 17.0, 30.0]
GENERATIVE_RATES = [1.0, 2.5, 6.0, 14.0]


def quality(kbps: float, offset: float) -> float:
    return 20 + 3 * float(np.log2(kbps)) + offset


@pytest.fixture
def results(db):
    """Two 125-frame SRCs with the VVC anchor and landmark-warp at the conditions' rate points, a default
    x265 HRC (outside the conditions), and a 64x64 SRC (outside too)."""
    for name, offset in (("talker-a", 0.0), ("talker-b", 1.0)):
        source = make_source(name)
        for qp, kbps in zip((52, 47, 42, 37), ANCHOR_RATES):
            done_pvs(source, "vvc", {"qp": qp}, "vvc", kbps, psnr_y=quality(kbps, offset), ssim=0.8)
        for qp, kbps in zip((52, 42, 32, 22), GENERATIVE_RATES):
            params = {"q": 4.0, "key_codec": "vvc", "key_qp": qp}
            done_pvs(source, "landmark-warp", params, "landmark-warp key_codec=vvc", kbps,
                     psnr_y=quality(kbps, offset + 2.0))
        done_pvs(source, "x265", {"qp": 37}, "x265", 20.0, psnr_y=30.0)
    done_pvs(make_source("small", size=64), "vvc", {"qp": 42}, "vvc", 3.0, psnr_y=30.0)


@pytest.mark.django_db
class TestReport:
    def test_rows_are_the_conditions_pvs_anchor_first_lowest_rate_first(self, results):
        report = conditions_report(JVET_GFVC)
        assert report.codecs == ["vvc", "landmark-warp key_codec=vvc"]
        assert report.sequences == ["small", "talker-a", "talker-b"]
        talker_a = [row.kbps for row in report.rows if row.sequence == "talker-a"]
        assert talker_a == ANCHOR_RATES + GENERATIVE_RATES

    def test_bd_rate_per_sequence_is_the_bd_rate_of_its_points(self, results):
        report = conditions_report(JVET_GFVC)
        (landmark,) = report.bd["psnr_y"]
        per_source = {source.source: source.rate for source in landmark.per_source}
        expected = bd_rate(ANCHOR_RATES, [quality(r, 0) for r in ANCHOR_RATES],
                           GENERATIVE_RATES, [quality(r, 2.0) for r in GENERATIVE_RATES]).value
        assert per_source["talker-a"].value == pytest.approx(expected)
        # 2 dB at 3 dB per octave: 2^(-2/3) - 1 of the anchor's rate, where the curves overlap.
        assert expected == pytest.approx(100 * (2 ** (-2 / 3) - 1), abs=0.5)
        assert landmark.n_rate == 2 and landmark.mean_rate == pytest.approx(expected)

    def test_a_metric_missing_for_a_curve_gives_no_number_with_the_reason(self, results):
        (landmark,) = conditions_report(JVET_GFVC).bd["ssim"]
        assert landmark.mean_rate is None

    def test_the_csv_has_the_table_then_the_bd_rates(self, results):
        text = conditions_csv(conditions_report(JVET_GFVC))
        table, bd = text.split("\n\n")
        rows = list(csv.DictReader(io.StringIO(table)))
        assert len(rows) == 1 + 2 * 8
        assert rows[1]["codec"] == "vvc" and rows[1]["sequence"] == "talker-a" and rows[1]["kbps"] == "6.000"
        assert rows[1]["psnr_y [dB]"] == f"{quality(6.0, 0):.6f}"
        bd_rows = list(csv.reader(io.StringIO(bd)))
        assert bd_rows[1] == ["codec", "metric", "small", "talker-a", "talker-b", "average", "sequences_averaged"]
        psnr_row = next(row for row in bd_rows if row[:2] == ["landmark-warp key_codec=vvc", "psnr_y"])
        assert float(psnr_row[5]) == pytest.approx(100 * (2 ** (-2 / 3) - 1), abs=0.5)

    def test_the_page_shows_the_table_to_staff_and_the_csv_downloads(self, results, admin_client, client, settings):
        settings.FACEQA_OPEN_RESEARCHER_PAGES = False
        page = admin_client.get("/metrics/conditions/jvet-gfvc/")
        assert page.status_code == 200
        assert b"landmark-warp key_codec=vvc" in page.content and b"BD-rate against vvc" in page.content
        download = admin_client.get("/metrics/conditions/jvet-gfvc/?format=csv")
        assert download["Content-Type"].startswith("text/csv") and b"talker-b" in download.content
        assert client.get("/metrics/conditions/jvet-gfvc/").status_code == 302
        assert admin_client.get("/metrics/conditions/nope/").status_code == 404

    def test_the_command_reports_and_writes_the_csv(self, results, tmp_path, capsys):
        out = tmp_path / "jvet.csv"
        call_command("run_conditions", "jvet-gfvc", "--report-only", "--out", str(out))
        printed = capsys.readouterr().out
        assert "landmark-warp key_codec=vvc" in printed and "psnr_y" in printed
        assert out.read_text() == conditions_csv(conditions_report(JVET_GFVC))


@pytest.mark.django_db
class TestSources:
    def test_srcs_outside_the_conditions_are_refused_by_name_with_the_reason(self):
        make_source("short", frames=25)
        with pytest.raises(CommandError, match="short has 25 frames; jvet-gfvc codes 125 or 250"):
            call_command("run_conditions", "jvet-gfvc", "--sources", "short", "--codecs", "landmark-warp")

    def test_without_any_src_within_nothing_is_queued(self):
        make_source("large", size=512)
        with pytest.raises(CommandError, match="no SRC is within jvet-gfvc"):
            call_command("run_conditions", "jvet-gfvc", "--codecs", "landmark-warp", "--no-wait")
        assert not Pvs.objects.exists()

    def test_a_codec_without_conditions_rate_points_is_refused(self):
        make_source("talker")
        with pytest.raises(CommandError, match="no rate points for x265"):
            call_command("run_conditions", "jvet-gfvc", "--codecs", "x265", "--no-wait")


@pytest.mark.slow
@pytest.mark.django_db
def test_a_real_run_on_a_face_clip_codes_measures_and_reports(data_dir, django_capture_on_commit_callbacks):
    """vvc and landmark-warp on 25 frames of a real clip (the conditions shortened to 25 frames to stay quick)."""
    if not FACES_DIR.is_dir():
        pytest.skip("../shared/faces is absent")
    source = source_ingest(path=FACES_DIR / "lp_d18.mp4", max_frames=25).source
    short = dataclasses.replace(JVET_GFVC, frame_counts=(25,), metrics=("psnr_y",), extra_metrics=())
    with django_capture_on_commit_callbacks(execute=False):
        all_pvs = conditions_build(conditions=short, codec_names=["landmark-warp"], source_names=[source.name])
    assert len(all_pvs) == 8
    for pvs in all_pvs:
        pvs = pvs_code(pvs=pvs)
        pvs_compute_metrics(pvs=pvs, metric_names=["psnr_y"])
        Pvs.objects.filter(pk=pvs.pk).update(status=JobStatus.DONE)
    report = conditions_report(short)
    rates = {codec: [row.kbps for row in report.rows if row.codec == codec] for codec in report.codecs}
    assert list(rates) == ["vvc", "landmark-warp key_codec=vvc"]
    assert all(np.all(np.diff(curve) > 0) for curve in rates.values())
    # The key frame at QP 22 costs more than the whole VVC anchor at QP 52 on 25 frames.
    assert rates["landmark-warp key_codec=vvc"][-1] > rates["vvc"][0]
    assert report.bd["psnr_y"][0].per_source[0].source == source.name
