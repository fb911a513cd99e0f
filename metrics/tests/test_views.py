"""The database grid, the PVS page and the rate–distortion dashboard, through the test client."""
import math

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from metrics.models import MetricResult, MetricStatus
from metrics.registry import all_metrics
from qa_platform.core.models import Hrc, JobStatus, Pvs, Source

pytestmark = pytest.mark.django_db

LPIPS_REASON = "AlexNet weights missing in TORCH_HOME; run manage.py fetch_weights"


def make_source(name: str) -> Source:
    return Source.objects.create(
        name=name, origin_path=f"/clips/{name}.mp4", origin_sha256=name.ljust(64, "0"), size=128,
        fps_num=25, max_frames=50, frame_count=50, crop_x=0, crop_y=0, crop_size=128,
        lossless_path=f"sources/{name}/src.mkv", browser_path=f"sources/{name}/src.mp4",
    )


def make_hrc(codec: str, **params) -> Hrc:
    label = " ".join([codec] + [f"{key}={value}" for key, value in params.items()])
    return Hrc.objects.create(codec=codec, params=params, params_key=label, label=label, curve=codec)


def make_pvs(source: Source, hrc: Hrc, status: str = JobStatus.DONE, kbps: float | None = None,
             **fields) -> Pvs:
    if status == JobStatus.DONE:
        fields = {
            "bitstream_bytes": round(kbps * 1000 * source.duration_seconds / 8),
            "encode_seconds": 1.25, "decode_seconds": 0.5, "device": "cpu",
            "codec_version": "x265 3.6",
            "browser_path": f"pvs/{source.name}-{hrc.pk}/pvs.mp4", **fields,
        }
    return Pvs.objects.create(source=source, hrc=hrc, status=status, kbps=kbps, **fields)


def add_result(pvs: Pvs, metric: str, value: float | None = None,
               status: str = MetricStatus.OK, reason: str = "", per_frame=None) -> MetricResult:
    result = MetricResult(pvs=pvs, metric=metric, status=status, value=value, reason=reason, version="1.0")
    if per_frame is not None:
        result.per_frame = per_frame
    result.save()
    return result


@pytest.fixture
def database():
    """Two SRCs x three HRCs (x265 at two QPs, one generative codec), one PVS failed."""
    a, b = make_source("alice"), make_source("bob")
    x265_32 = make_hrc("x265", qp=32)  # created first, but the higher rate
    x265_42 = make_hrc("x265", qp=42)
    fomm = make_hrc("fomm", keyframe_qp=30)
    pvs = {
        "a42": make_pvs(a, x265_42, kbps=10.0),
        "a32": make_pvs(a, x265_32, kbps=40.0),
        "afomm": make_pvs(a, fomm, kbps=5.0),
        "b42": make_pvs(b, x265_42, kbps=12.0),
        "b32": make_pvs(b, x265_32, status=JobStatus.FAILED, message="x265 exited with status 1: out of memory"),
        "bfomm": make_pvs(b, fomm, kbps=7.0),
    }
    for key, psnr, ssim in [("a42", 30.0, 0.9), ("a32", 36.0, 0.97), ("afomm", 25.0, 0.8),
                            ("b42", 28.0, 0.88), ("bfomm", 27.0, 0.85)]:
        add_result(pvs[key], "psnr_rgb", psnr, per_frame=[psnr - 1, math.nan, psnr + 1])
        add_result(pvs[key], "ssim", ssim)
    add_result(pvs["afomm"], "lpips_alex", status=MetricStatus.UNAVAILABLE, reason=LPIPS_REASON)
    add_result(pvs["bfomm"], "lpips_alex", 0.31)
    return pvs


def label(metric: str) -> str:
    return all_metrics()[metric].label


class TestDatabasePage:
    def test_empty_database_says_how_to_build_one(self, client):
        response = client.get(reverse("metrics:database"))
        assert response.status_code == 200
        assert b"python manage.py ingest_sources" in response.content
        assert b"python manage.py build_database" in response.content

    def test_grid_shows_status_rate_times_and_summary(self, client, database):
        response = client.get(reverse("metrics:database"))
        html = response.content.decode()
        assert response.status_code == 200
        assert "2 SRCs, 3 HRCs, 6 PVS" in html
        assert '<span class="status status-done">5 done</span>' in html
        assert '<span class="status status-failed">1 failed</span>' in html
        assert "40.0 kbit/s" in html and "12.0 kbit/s" in html
        assert "enc 1.25 s · dec 0.50 s" in html
        assert reverse("metrics:pvs", args=[database["a42"].pk]) in html

    def test_failed_pvs_shows_its_message_in_the_cell_and_below(self, client, database):
        html = client.get(reverse("metrics:database")).content.decode()
        message = "x265 exited with status 1: out of memory"
        assert f'title="{message}"' in html
        assert f"bob / x265 qp=32</a>: <code>{message}</code>" in html

    def test_columns_are_grouped_by_curve_lowest_rate_first(self, client, database):
        grid = client.get(reverse("metrics:database")).context["grid"]
        assert [(group.curve, [hrc.label for hrc in group.hrcs]) for group in grid.curves] == [
            ("fomm", ["fomm keyframe_qp=30"]),
            ("x265", ["x265 qp=42", "x265 qp=32"]),
        ]
        alice = grid.rows[0]
        assert alice.source.name == "alice"
        assert [pvs.kbps for pvs in alice.cells] == [5.0, 10.0, 40.0]

    def test_query_parameter_chooses_the_metric_shown(self, client, database):
        psnr = client.get(reverse("metrics:database")).content.decode()
        ssim = client.get(reverse("metrics:database"), {"metric": "ssim"}).content.decode()
        assert '<span class="value">36.00</span>' in psnr
        assert '<span class="value">0.9700</span>' in ssim
        assert '<span class="value">36.00</span>' not in ssim
        assert '<option value="ssim" selected>' in ssim

    def test_unavailable_metric_in_a_cell_gives_its_reason(self, client, database):
        html = client.get(reverse("metrics:database"), {"metric": "lpips_alex"}).content.decode()
        assert f'<span title="{LPIPS_REASON}">{label("lpips_alex")} unavailable</span>' in html

    def test_unknown_metric_is_404(self, client, database):
        assert client.get(reverse("metrics:database"), {"metric": "vmaf_neg"}).status_code == 404

    def test_page_reloads_itself_only_while_work_is_queued_or_running(self, client, database):
        refresh = b'<meta http-equiv="refresh" content="5">'
        assert refresh not in client.get(reverse("metrics:database")).content
        make_pvs(make_source("carol"), database["a42"].hrc, status=JobStatus.RUNNING)
        response = client.get(reverse("metrics:database"), {"metric": "ssim"})
        assert refresh in response.content
        assert b'<progress value="6" max="7">' in response.content


class TestPvsPage:
    def test_plays_src_and_pvs_browser_copies(self, client, database):
        pvs = database["a42"]
        html = client.get(reverse("metrics:pvs", args=[pvs.pk])).content.decode()
        assert 'src="/media/sources/alice/src.mp4"' in html
        assert f'src="/media/{pvs.browser_path}"' in html
        assert html.count("muted playsinline controls") == 2
        assert 'id="play-both"' in html

    def test_shows_coding_facts_and_the_bitrate_formula(self, client, database):
        pvs = database["a42"]
        html = client.get(reverse("metrics:pvs", args=[pvs.pk])).content.decode()
        # 10 kbit/s over 50 frames at 25 fps: 8 x 2500 bytes / 2 s / 1000
        assert "<strong>10.00 kbit/s</strong>" in html
        assert "= 8 × 2500 bytes / 2.000 s / 1000" in html
        assert "<code>qp=42</code>" in html
        assert "x265 3.6" in html
        assert "1.25 s" in html and "0.50 s" in html

    def test_metric_table_has_values_units_direction_and_unavailable_reasons(self, client, database):
        pvs = database["afomm"]
        response = client.get(reverse("metrics:pvs", args=[pvs.pk]))
        rows = {row.spec.name: row for row in response.context["metric_rows"]}
        assert list(rows) == list(all_metrics())
        html = response.content.decode()
        psnr = all_metrics()["psnr_rgb"]
        assert f"25.00 {psnr.unit}" in html
        assert f"<strong>unavailable</strong>: {LPIPS_REASON}" in html
        assert rows["dists"].result is None and "not computed" in html
        assert "↑ higher is better" in html and "↓ lower is better" in html

    def test_per_frame_plot_has_one_panel_per_metric_with_frames(self, client, database):
        response = client.get(reverse("metrics:pvs", args=[database["a42"].pk]))
        figure = response.context["per_frame_figure"]
        assert [trace["y"] for trace in figure["data"]] == [[29.0, None, 31.0]]  # NaN: frame without a value
        assert b'id="per-frame-figure"' in response.content

    def test_pvs_not_decoded_yet_has_no_pvs_video(self, client, database):
        html = client.get(reverse("metrics:pvs", args=[database["b32"].pk])).content.decode()
        assert "No decoded video yet (PVS failed)" in html
        assert "x265 exited with status 1: out of memory" in html
        assert 'id="pvs-video"' not in html

    def test_shows_the_rate_point_found_and_the_decode_time_controls(self, client, database):
        hrc = Hrc.objects.create(codec="landmark-warp", params={"target_kbps": 8, "controls": {"mouth": 0.3}},
                                 params_key='{"controls":{"mouth":0.3},"target_kbps":8}',
                                 label="landmark-warp @ 8 kbit/s mouth=0.3", curve="landmark-warp mouth=0.3")
        pvs = make_pvs(database["a42"].source, hrc, kbps=8.2, params={"q": 2.0, "key_qp": 37})
        html = client.get(reverse("metrics:pvs", args=[pvs.pk])).content.decode()
        assert "<code>target_kbps=8</code>" in html and "controls=" not in html
        assert "rate point found" in html and "<code>q=2.0</code> <code>key_qp=37</code>" in html
        assert "decode-time controls" in html and "<code>mouth=0.3</code>" in html
        assert "<tr><th>curve</th><td>landmark-warp mouth=0.3</td></tr>" in html

    def test_missing_pvs_is_404(self, client, database):
        assert client.get(reverse("metrics:pvs", args=[999_999])).status_code == 404


def traces(response) -> dict[str, list[tuple[float, float]]]:
    return {trace["name"]: list(zip(trace["x"], trace["y"])) for trace in response.context["figure"]["data"]}


class TestRateDistortionDashboard:
    def test_per_src_one_trace_per_codec_points_sorted_by_rate(self, client, database):
        response = client.get(reverse("metrics:rd"), {"metric": "psnr_rgb", "src": "alice"})
        assert response.status_code == 200
        assert traces(response) == {"fomm": [(5.0, 25.0)], "x265": [(10.0, 30.0), (40.0, 36.0)]}
        x265 = response.context["figure"]["data"][1]
        assert x265["customdata"][0] == ["alice", "x265 qp=42", reverse("metrics:pvs", args=[database["a42"].pk])]

    def test_averaged_over_srcs_where_pvs_is_done_and_metric_ok(self, client, database):
        response = client.get(reverse("metrics:rd"), {"metric": "psnr_rgb"})
        # x265 qp=32 failed on bob, so its point is alice's alone.
        assert traces(response) == {"fomm": [(6.0, 26.0)], "x265": [(11.0, 29.0), (40.0, 36.0)]}
        html = response.content.decode()
        assert "<strong>x265</strong>: 2 points, each the mean over 1–2 SRCs" in html
        assert "<strong>fomm</strong>: 1 point, each the mean over 2 SRCs" in html
        assert "1 PVS: PVS failed" in html
        assert response.context["figure"]["data"][0]["customdata"][0] == ["mean over 2 SRCs", "fomm keyframe_qp=30", ""]

    def test_unavailable_metric_is_excluded_with_its_reason(self, client, database):
        response = client.get(reverse("metrics:rd"), {"metric": "lpips_alex"})
        assert traces(response) == {"fomm": [(7.0, pytest.approx(0.31))]}
        html = response.content.decode()
        assert f"1 PVS: metric unavailable: {LPIPS_REASON}" in html
        assert "3 PVS: metric not computed yet" in html

    def test_nothing_to_draw_says_why(self, client, database):
        response = client.get(reverse("metrics:rd"), {"metric": "lpips_alex", "src": "alice"})
        assert response.context["figure"]["data"] == []
        html = response.content.decode()
        assert "Nothing to draw" in html
        assert f"metric unavailable: {LPIPS_REASON}" in html

    def test_axis_titles_carry_unit_and_direction(self, client, database):
        figure = client.get(reverse("metrics:rd"), {"metric": "psnr_rgb"}).context["figure"]
        psnr = all_metrics()["psnr_rgb"]
        assert figure["layout"]["xaxis"]["title"]["text"] == "bitrate (kbit/s)"
        assert figure["layout"]["yaxis"]["title"]["text"] == f"{psnr.label} ({psnr.unit}), ↑ higher is better"

    def test_unknown_src_or_metric_is_404(self, client, database):
        assert client.get(reverse("metrics:rd"), {"src": "nobody"}).status_code == 404
        assert client.get(reverse("metrics:rd"), {"metric": "nope"}).status_code == 404


def test_static_files_are_served_without_debug_by_whitenoise(tmp_path, settings, client):
    settings.STATIC_ROOT = tmp_path / "static"
    call_command("collectstatic", "--noinput", verbosity=0)
    assert not settings.DEBUG
    response = Client().get("/static/studies/trial.js")
    assert response.status_code == 200 and b"".join(response.streaming_content)
