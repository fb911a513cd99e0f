"""A small rated-ready database: SRCs and done PVSs with real video files."""
from fractions import Fraction

from conftest import synthetic_frames
from metrics.models import MetricResult, MetricStatus
from qa_platform.codec.video import write_browser_copy, write_lossless
from qa_platform.core.models import Hrc, JobStatus, Pvs, Source

FPS = Fraction(25)


def make_source(data_dir, name: str, size: int = 64, frames: int = 25, seed: int = 0) -> Source:
    """A SRC whose lossless and browser copies exist under ``data_dir``."""
    clip = synthetic_frames(t=frames, size=size, seed=seed)
    write_lossless(data_dir / "sources" / f"{name}.mkv", clip, FPS)
    write_browser_copy(data_dir / "sources" / f"{name}.mp4", clip, FPS)
    return Source.objects.create(
        name=name, origin_path=f"/clips/{name}.mp4", origin_sha256=name.ljust(64, "0"),
        size=size, fps_num=25, fps_den=1, max_frames=frames, frame_count=frames,
        crop_x=0, crop_y=0, crop_size=size,
        lossless_path=f"sources/{name}.mkv", browser_path=f"sources/{name}.mp4",
    )


def make_database(data_dir, n_sources: int = 3, qps=(45, 30), codec: str = "x264") -> list[Pvs]:
    """``n_sources`` SRCs x one HRC per QP, every PVS done with a browser copy
    (the SRC's own file: the studies code never reads PVS pixels)."""
    hrcs = [
        Hrc.objects.get_or_create(codec=codec, params={"qp": qp}, params_key=f'{{"qp": {qp}}}',
                                  label=f"{codec} qp={qp}", curve=codec, family="conventional")[0]
        for qp in qps
    ]
    pvs = []
    for i in range(n_sources):
        source = make_source(data_dir, f"src{i}", seed=i)
        for hrc in hrcs:
            pvs.append(Pvs.objects.create(
                source=source, hrc=hrc, status=JobStatus.DONE, kbps=1000.0 / hrc.params["qp"],
                bitstream_bytes=100, decoded_path=source.lossless_path, browser_path=source.browser_path,
            ))
            _add_metrics(pvs[-1], qp=hrc.params["qp"], offset=i)
    return pvs


def add_codec(pvs: list[Pvs], codec: str = "x265", qps=(40, 28)) -> list[Pvs]:
    """Add PVSs of ``codec`` at ``qps`` on the SRCs of ``pvs`` (a second codec for same-rate pairs)."""
    hrcs = [Hrc.objects.create(codec=codec, params={"qp": qp}, params_key=f'{{"qp": {qp}}}',
                               label=f"{codec} qp={qp}", curve=codec, family="conventional") for qp in qps]
    added = []
    for source in sorted({p.source for p in pvs}, key=lambda s: s.name):
        for hrc in hrcs:
            added.append(Pvs.objects.create(
                source=source, hrc=hrc, status=JobStatus.DONE, kbps=900.0 / hrc.params["qp"], bitstream_bytes=100,
                decoded_path=source.lossless_path, browser_path=source.browser_path,
            ))
            _add_metrics(added[-1], qp=hrc.params["qp"] + 2, offset=0)
    return added


def _add_metrics(pvs: Pvs, qp: int, offset: int) -> None:
    """MS-SSIM falling with QP; PSNR-Y falling with QP, shifted per SRC."""
    for metric, value in (("ms_ssim", 1.0 - qp / 100 - offset / 1000), ("psnr_y", 50.0 - qp / 2 + 3 * offset)):
        MetricResult.objects.create(pvs=pvs, metric=metric, status=MetricStatus.OK, value=value, version="test")
