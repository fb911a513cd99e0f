from fractions import Fraction

import numpy as np
import pytest

from metrics import compute, features, services
from metrics.kernels import clip as clip_kernels
from metrics.kernels import face as face_kernels
from metrics.models import MetricResult, MetricStatus
from metrics.registry import all_metrics
from metrics.tests.clips import blurred
from metrics.tests.factories import make_pvs
from qa_platform.codec.video import read_frames
from qa_platform.core.models import Hrc, Pvs

clip_flows = clip_kernels._flows

pytestmark = pytest.mark.django_db

FACE_METRICS = ["aed", "id_sim", "akd", "akd_mouth", "akd_eyes", "pose_yaw", "pose_pitch", "pose_roll",
                "face_psnr", "face_ssim"]
WEIGHTED_METRICS = ["lpips_alex", "dists"]
PLAIN_METRICS = ["psnr_rgb", "psnr_y", "psnr_yuv", "xpsnr_y", "ssim", "ms_ssim", "fsim", "gmsd", "vif", "vmaf",
                 "vmaf_torch"]


@pytest.fixture
def face_pvs(data_dir, face_clip) -> Pvs:
    """A PVS of a real talking head (20 frames, 256x256) blurred by sigma 2."""
    frames, fps = face_clip
    return make_pvs(data_dir, frames, blurred(frames, sigma=2), fps)


def by_name(results) -> dict[str, MetricResult]:
    return {result.metric: result for result in results}


class TestPvsComputeMetrics:
    def test_stores_one_result_per_registered_metric(self, face_pvs):
        results = by_name(services.pvs_compute_metrics(pvs=face_pvs))
        assert list(results) == list(all_metrics())
        assert MetricResult.objects.filter(pvs=face_pvs).count() == len(all_metrics())
        for name in PLAIN_METRICS + FACE_METRICS + ["tdiff", "tof"]:
            result = results[name]
            assert result.status == MetricStatus.OK, result.reason
            assert result.per_frame.shape == (20,)
            assert result.value == pytest.approx(np.nanmean(result.per_frame), rel=1e-6)
            assert result.version == all_metrics()[name].version and result.pooling.startswith("mean")
            assert 0 < result.seconds < 60
        assert results["lpips_alex"].seconds is None  # unavailable: nothing ran
        for name in ("ear_r", "mouth_r"):
            assert results[name].status == MetricStatus.OK, results[name].reason
            assert -1 <= results[name].value <= 1 and results[name].pooling == "Pearson r over frames"
            assert results[name].per_frame.shape == (20,)

    def test_values_reflect_a_blurred_face(self, face_pvs):
        results = by_name(services.pvs_compute_metrics(pvs=face_pvs))
        assert 25 < results["psnr_rgb"].value < 45 and 25 < results["face_psnr"].value < 45
        assert 0.5 < results["ssim"].value < 1 and 0.5 < results["face_ssim"].value < 1
        assert 20 < results["vmaf"].value < 95
        assert results["aed"].value > 0.05 and results["akd"].value > 0.005
        assert 0.9 < results["id_sim"].value < 1

    @pytest.mark.parametrize("stage", ["cpu", "gpu"])
    def test_a_stage_computes_and_replaces_only_its_devices_metrics(self, face_pvs, stage):
        services.pvs_compute_metrics(pvs=face_pvs, metric_names=["psnr_rgb", "vmaf_torch"], stage="cpu" if stage == "gpu" else "gpu")
        results = by_name(services.pvs_compute_metrics(pvs=face_pvs, stage=stage))
        assert set(results) == {name for name, spec in all_metrics().items() if spec.device == stage}
        assert {"psnr_rgb", "vmaf_torch"} <= set(MetricResult.objects.filter(pvs=face_pvs).values_list("metric", flat=True))
        # No CUDA here: the gpu stage runs on the CPU and says so with each value.
        assert {r.device for r in results.values() if r.status == MetricStatus.OK} == {"cpu"}

    def test_a_job_computes_the_job_metrics_less_the_skipped_ones(self, face_pvs, settings):
        settings.FACEQA_JOB_METRICS = ["psnr_rgb", "fsim", "vif", "akd"]
        settings.FACEQA_JOB_SKIP_METRICS = ["fsim", "vif"]
        assert list(by_name(services.pvs_compute_metrics(pvs=face_pvs))) == ["psnr_rgb", "akd"]

    def test_an_unknown_stage_is_refused(self, face_pvs):
        with pytest.raises(ValueError, match="unknown metrics stage 'tpu'"):
            services.pvs_compute_metrics(pvs=face_pvs, stage="tpu")

    def test_aed_is_computed_on_every_fifth_frame(self, face_pvs):
        aed = by_name(services.pvs_compute_metrics(pvs=face_pvs, metric_names=["aed"]))["aed"]
        assert np.flatnonzero(np.isfinite(aed.per_frame)).tolist() == [0, 5, 10, 15]
        assert aed.pooling == "mean, every 5th frame" and aed.device == "cpu"

    def test_lpips_and_dists_without_weights_are_stored_unavailable(self, face_pvs):
        results = by_name(services.pvs_compute_metrics(pvs=face_pvs, metric_names=WEIGHTED_METRICS))
        for name in WEIGHTED_METRICS:
            assert results[name].status == MetricStatus.UNAVAILABLE
            assert results[name].value is None and len(results[name].per_frame) == 0
            assert "python manage.py fetch_weights" in results[name].reason
        assert "alexnet-owt-7be5be79.pth" in results["lpips_alex"].reason
        assert "vgg16-397923af.pth" in results["dists"].reason

    def test_lpips_and_dists_with_stand_in_weights_are_computed(
        self, data_dir, small_clip, stand_in_weights, no_downloads
    ):
        frames, fps = small_clip
        pvs = make_pvs(data_dir, frames, blurred(frames, sigma=1), fps, name="pattern")
        results = by_name(services.pvs_compute_metrics(pvs=pvs, metric_names=WEIGHTED_METRICS))
        for name in WEIGHTED_METRICS:
            assert results[name].status == MetricStatus.OK, results[name].reason
            assert results[name].per_frame.shape == (10,) and results[name].device == "cpu"

    def test_ffmpeg_metrics_without_the_ffmpeg_program_are_stored_unavailable(self, data_dir, small_clip,
                                                                           monkeypatch):
        from qa_platform.codec import ffmpeg

        def absent():
            raise ffmpeg.FFmpegError("imageio-ffmpeg has no FFmpeg program here (test); reinstall requirements.txt")

        monkeypatch.setattr(ffmpeg, "executable", absent)
        frames, fps = small_clip
        pvs = make_pvs(data_dir, frames, blurred(frames, sigma=1), fps, name="pattern")
        results = by_name(services.pvs_compute_metrics(pvs=pvs, metric_names=["vmaf", "xpsnr_y", "psnr_y"]))
        for name in ("vmaf", "xpsnr_y"):
            assert results[name].status == MetricStatus.UNAVAILABLE and results[name].value is None
            assert "imageio-ffmpeg has no FFmpeg program" in results[name].reason
        assert results["psnr_y"].status == MetricStatus.OK

    def test_the_sources_frame_rate_reaches_xpsnr(self, data_dir, small_clip, monkeypatch):
        seen = []
        monkeypatch.setattr("metrics.kernels.clip.xpsnr_y", lambda clips: seen.append(clips.fps) or
                            np.zeros(clips.frame_count))
        frames, _ = small_clip
        pvs = make_pvs(data_dir, frames, blurred(frames, sigma=1), Fraction(50), name="pattern")
        services.pvs_compute_metrics(pvs=pvs, metric_names=["xpsnr_y"])
        assert seen == [Fraction(50)]

    def test_a_failing_metric_is_stored_failed_and_the_others_still_ok(self, face_pvs, monkeypatch):
        def broken(distorted, reference):
            raise RuntimeError("kernel exploded")

        monkeypatch.setattr("metrics.kernels.full_reference.ssim", broken)
        results = by_name(services.pvs_compute_metrics(pvs=face_pvs, metric_names=["ssim", "psnr_y"]))
        assert results["ssim"].status == MetricStatus.FAILED
        assert results["ssim"].reason == "RuntimeError: kernel exploded" and results["ssim"].value is None
        assert results["psnr_y"].status == MetricStatus.OK

    def test_recomputing_replaces_the_results(self, face_pvs):
        first = by_name(services.pvs_compute_metrics(pvs=face_pvs, metric_names=["psnr_rgb"]))["psnr_rgb"]
        second = by_name(services.pvs_compute_metrics(pvs=face_pvs, metric_names=["psnr_rgb"]))["psnr_rgb"]
        assert second.pk == first.pk and MetricResult.objects.filter(pvs=face_pvs).count() == 1
        stored = MetricResult.objects.get(pk=first.pk)
        np.testing.assert_array_equal(stored.per_frame, second.per_frame)
        assert stored.per_frame.shape == (20,) and stored.value == second.value

    def test_reference_faces_are_cached_per_source(self, face_pvs, monkeypatch):
        services.pvs_compute_metrics(pvs=face_pvs, metric_names=["akd"])
        assert (services.source_cache_dir(face_pvs.source) / "faces.npz").is_file()

        def not_again(*args):
            raise AssertionError("reference faces recomputed despite the cache")

        monkeypatch.setattr(face_kernels, "reference_faces", not_again)
        result = by_name(services.pvs_compute_metrics(pvs=face_pvs, metric_names=["akd"]))["akd"]
        assert result.status == MetricStatus.OK

    def test_the_sources_frames_and_reference_work_are_reused_by_its_next_pvs(self, face_pvs, monkeypatch,
                                                                             settings):
        features.FEATURE_CACHE.clear()
        reads, flows = [], []
        monkeypatch.setattr(services, "read_frames", lambda path, **kw: reads.append(path.name) or read_frames(path))
        monkeypatch.setattr(clip_kernels, "_flows", lambda frames: flows.append(1) or clip_flows(frames))
        hrc = Hrc.objects.create(codec="blur", params={"sigma": 3}, params_key='{"sigma": 3}', label="blur 3",
                                 curve="blur")
        second = Pvs.objects.create(source=face_pvs.source, hrc=hrc, status=face_pvs.status,
                                    decoded_path=face_pvs.decoded_path)  # the same frames: the same values
        first_tof, second_tof = (by_name(services.pvs_compute_metrics(pvs=pvs, metric_names=["tof", "psnr_yuv"]))
                                 for pvs in (face_pvs, second))
        assert reads == ["talker.mkv", "talker-blur.mkv", "talker-blur.mkv"]  # the SRC once, each PVS
        assert len(flows) == 3  # the SRC's flow once, each PVS's
        assert first_tof["tof"].value == second_tof["tof"].value
        assert first_tof["psnr_yuv"].value == second_tof["psnr_yuv"].value
        settings.FACEQA_FEATURE_CACHE_MB = 0  # nothing kept: the SRC is read again
        services.pvs_compute_metrics(pvs=second, metric_names=["psnr_rgb"])
        assert reads[-2:] == ["talker.mkv", "talker-blur.mkv"]

    def test_a_source_without_a_face_fails_face_metrics_only(self, data_dir, small_clip):
        frames, fps = small_clip
        pvs = make_pvs(data_dir, frames, frames, fps, name="pattern")
        results = by_name(services.pvs_compute_metrics(pvs=pvs, metric_names=["psnr_rgb", "akd", "face_psnr"]))
        for name in ("akd", "face_psnr"):
            assert results[name].status == MetricStatus.FAILED
            assert results[name].reason.startswith("NoFaceError")
        assert results["psnr_rgb"].status == MetricStatus.OK

    def test_frames_that_do_not_match_the_source_are_refused(self, data_dir, small_clip):
        frames, fps = small_clip
        pvs = make_pvs(data_dir, frames, frames[:5], fps, name="short")
        with pytest.raises(ValueError, match="do not match the SRC"):
            services.pvs_compute_metrics(pvs=pvs)
        assert not MetricResult.objects.exists()

    def test_unknown_metric_names_are_refused_before_reading(self, face_pvs):
        with pytest.raises(LookupError, match="did you mean ssim"):
            services.pvs_compute_metrics(pvs=face_pvs, metric_names=["ssmi"])


def test_the_src_faces_time_is_counted_in_the_first_face_metric_that_ran():
    specs = services.metric_specs(["psnr_y", "face_psnr", "akd"])
    timings = {"psnr_y": 1.0, "face_psnr": 2.0, "akd": 0.5, compute.REFERENCE_FACES: 4.0}
    services._charge_reference_faces(timings, specs)
    assert timings == {"psnr_y": 1.0, "face_psnr": 6.0, "akd": 0.5}
