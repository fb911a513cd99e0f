"""The pages in a real browser: Playwright driving Debian's Chromium against a live server.

Screenshots of each page are written to /tmp/faceqa-*.png for a person to look at.
"""
from fractions import Fraction

import pytest
from django.urls import reverse

from conftest import synthetic_frames
from metrics.models import MetricResult, MetricStatus
from qa_platform.codec import video
from qa_platform.core.models import Hrc, JobStatus, Pvs, Source

SIZE = 128
FRAMES = 25
# (codec, params, kbit/s, PSNR dB) of the PVSs of the one SRC
RATE_POINTS = [
    ("x265", {"qp": 42}, 11.0, 29.5),
    ("x265", {"qp": 32}, 38.0, 35.2),
    ("fomm", {"keyframe_qp": 30}, 4.0, 26.1),
]


@pytest.fixture
def media_folder(data_dir):
    """(data directory, folder name) where the test's browser copies go; /media/ serves
    browser copies under sources/ and pvs/ only, so the SRC is named after that folder."""
    (data_dir / "sources").mkdir()
    return data_dir, "sources"


@pytest.fixture
def clip_pvs(transactional_db, media_folder) -> list[Pvs]:
    """One real SRC (128x128, 25 frames) and three done PVSs of two codecs, with browser copies."""
    root, name = media_folder
    frames = synthetic_frames(t=FRAMES, size=SIZE, seed=3)
    video.write_browser_copy(root / name / "src.mp4", frames, Fraction(25))
    video.write_browser_copy(root / name / "pvs.mp4", frames // 24 * 24, Fraction(25))
    source = Source.objects.create(
        name=name, origin_path="synthetic", origin_sha256="0" * 64, size=SIZE, fps_num=25,
        max_frames=FRAMES, frame_count=FRAMES, crop_x=0, crop_y=0, crop_size=SIZE,
        lossless_path=f"{name}/src.mkv", browser_path=f"{name}/src.mp4",
    )
    return [_done_pvs(source, *point) for point in RATE_POINTS]


def _done_pvs(source: Source, codec: str, params: dict, kbps: float, psnr: float) -> Pvs:
    label = " ".join([codec] + [f"{key}={value}" for key, value in params.items()])
    hrc = Hrc.objects.create(codec=codec, params=params, params_key=label, label=label, curve=codec)
    pvs = Pvs.objects.create(
        source=source, hrc=hrc, status=JobStatus.DONE, kbps=kbps,
        bitstream_bytes=round(kbps * 1000 * source.duration_seconds / 8), encode_seconds=0.8,
        decode_seconds=0.2, device="cpu", codec_version="test", browser_path=f"{source.name}/pvs.mp4",
    )
    result = MetricResult(pvs=pvs, metric="psnr_rgb", status=MetricStatus.OK, value=psnr, version="1")
    result.per_frame = [psnr + (i % 5) / 5 for i in range(FRAMES)]
    result.save()
    MetricResult.objects.create(
        pvs=pvs, metric="lpips_alex", status=MetricStatus.UNAVAILABLE,
        reason="AlexNet weights missing in TORCH_HOME; run manage.py fetch_weights",
    )
    return pvs


@pytest.mark.browser
def test_database_page_shows_every_pvs_and_failures(live_server, page, clip_pvs):
    second = Source.objects.get(pk=clip_pvs[0].source_id)
    second.pk, second.name, second.origin_sha256 = None, f"{second.name}-b", "1" * 64
    second.save()
    Pvs.objects.create(source=second, hrc=clip_pvs[0].hrc, status=JobStatus.FAILED,
                       message="x265 exited with status 1")
    Pvs.objects.create(source=second, hrc=clip_pvs[1].hrc, status=JobStatus.RUNNING)
    Pvs.objects.create(source=second, hrc=clip_pvs[2].hrc, status=JobStatus.QUEUED)
    page.goto(live_server.url + reverse("metrics:database") + "?metric=lpips_alex")
    assert page.locator("table.grid td.cell.status-done").count() == len(clip_pvs)
    assert page.locator("table.grid th.codec").all_inner_texts() == ["fomm", "x265"]
    assert page.locator("td.cell.status-failed").get_attribute("title") == "x265 exited with status 1"
    assert "x265 exited with status 1" in page.inner_text("ul.failures")
    assert page.locator("progress").get_attribute("value") == "4"
    page.screenshot(path="/tmp/faceqa-database.png", full_page=True)


@pytest.mark.browser
def test_pvs_page_plays_src_and_pvs_at_native_size(live_server, page, clip_pvs):
    page.goto(live_server.url + reverse("metrics:pvs", args=[clip_pvs[0].pk]))
    page.wait_for_function(
        "['src-video', 'pvs-video'].every(id => document.getElementById(id).readyState >= 2)",
        timeout=15_000,
    )
    sizes = page.evaluate(
        "['src-video', 'pvs-video'].map(id => document.getElementById(id).videoWidth)"
    )
    assert sizes == [SIZE, SIZE]
    page.click("#play-both")
    page.wait_for_function(
        "['src-video', 'pvs-video'].every(id => document.getElementById(id).currentTime > 0.2)",
        timeout=15_000,
    )
    page.click("#pause-both")
    assert page.locator("#per-frame-plot .scatterlayer .trace").count() == 1
    page.screenshot(path="/tmp/faceqa-pvs.png", full_page=True)


@pytest.mark.browser
def test_dashboard_draws_one_curve_per_codec_and_opens_a_pvs_on_click(live_server, page, clip_pvs):
    source = clip_pvs[0].source.name
    page.goto(live_server.url + reverse("metrics:rd") + f"?metric=psnr_rgb&src={source}")
    page.wait_for_selector("#rd-plot .scatterlayer .trace")
    assert page.locator("#rd-plot .scatterlayer .trace").count() == 2
    points = page.locator("#rd-plot .scatterlayer .trace .points path")
    assert points.count() == len(clip_pvs)
    page.screenshot(path="/tmp/faceqa-rd-src.png", full_page=True)
    box = points.last.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_url("**/pvs/*/")
    assert page.url.endswith(reverse("metrics:pvs", args=[clip_pvs[1].pk]))


@pytest.mark.browser
def test_dashboard_says_why_a_metric_is_missing(live_server, page, clip_pvs):
    page.goto(live_server.url + reverse("metrics:rd") + "?metric=lpips_alex")
    assert "Nothing to draw" in page.inner_text("main")
    assert "3 PVS: metric unavailable: AlexNet weights missing" in page.inner_text(".note")
    page.screenshot(path="/tmp/faceqa-rd-unavailable.png", full_page=True)
    page.goto(live_server.url + reverse("metrics:rd") + "?metric=psnr_rgb")
    page.wait_for_selector("#rd-plot .scatterlayer .trace")
    assert page.locator("#rd-plot .scatterlayer .trace").count() == 2
    page.screenshot(path="/tmp/faceqa-rd-mean.png", full_page=True)
