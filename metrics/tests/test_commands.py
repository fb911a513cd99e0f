import re

import pytest
import torch
from django.core.management import CommandError, call_command

from metrics.models import MetricResult
from metrics.tests.clips import blurred
from metrics.tests.factories import make_pvs
from qa_platform.core.models import JobStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def pattern_pvs(data_dir, small_clip):
    frames, fps = small_clip
    return make_pvs(data_dir, frames, blurred(frames, sigma=1), fps, name="pattern")


class TestComputeMetricsCommand:
    def test_recomputes_every_done_pvs_and_summarises(self, pattern_pvs, capsys):
        call_command("compute_metrics", "--metrics", "psnr_rgb,lpips_alex")
        out = capsys.readouterr().out
        assert "psnr_rgb     1 ok" in out
        assert "lpips_alex   1 unavailable" in out and "fetch_weights" in out
        assert MetricResult.objects.filter(pvs=pattern_pvs).count() == 2

    def test_pvs_not_done_is_skipped_unless_named(self, pattern_pvs, capsys):
        pattern_pvs.status = JobStatus.RUNNING
        pattern_pvs.save()
        with pytest.raises(CommandError, match="no done PVS"):
            call_command("compute_metrics", "--metrics", "psnr_y")
        call_command("compute_metrics", "--metrics", "psnr_y", "--pvs", str(pattern_pvs.pk))
        assert MetricResult.objects.get(pvs=pattern_pvs).metric == "psnr_y"

    def test_unknown_metric_suggests_a_name(self, pattern_pvs):
        with pytest.raises(CommandError, match="did you mean ms_ssim"):
            call_command("compute_metrics", "--metrics", "msssim")

    def test_unknown_pvs_id_is_an_error(self, pattern_pvs):
        with pytest.raises(CommandError, match="no PVS with id 999"):
            call_command("compute_metrics", "--pvs", "999")

    def test_unreadable_clip_is_reported_and_others_go_on(self, pattern_pvs, data_dir, small_clip):
        frames, fps = small_clip
        broken = make_pvs(data_dir, frames, frames, fps, name="broken")
        (data_dir / broken.decoded_path).write_bytes(b"")
        with pytest.raises(CommandError, match=f"1 of 2 PVSs not measured:\n  PVS {broken.pk}"):
            call_command("compute_metrics", "--metrics", "psnr_rgb")
        assert MetricResult.objects.get(metric="psnr_rgb").pvs == pattern_pvs


class TestBenchmarkMetricsCommand:
    def test_prints_ms_per_frame_for_each_metric(self, capsys):
        call_command("benchmark_metrics", "--frames", "4", "--size", "64", "--metrics", "psnr_rgb,ssim,lpips_alex,akd")
        out = capsys.readouterr().out
        lines = out.splitlines()
        assert lines[0].startswith("1 clip(s), 4 frames 64x64, device cpu, batch 4")
        rows = {line.split()[0]: line for line in lines[3:] if line}
        assert rows["psnr_rgb"].endswith("ok") and rows["ssim"].endswith("ok")
        assert rows["lpips_alex"].endswith("unavailable (weights missing)")
        assert "failed: NoFaceError" in rows["reference"]  # the synthetic clip shows no face
        assert "speed-up over the per-frame, per-metric way" in out
        assert float(rows["psnr_rgb"].split()[3]) > 0 and rows["lpips_alex"].split()[3] == "-"  # in the pass
        assert re.search(r"floor, decoding the PVS and the SRC once .*: \d+\.\d ms/frame", out)
        assert re.search(r"whole set, one pass, later PVS: \d+\.\d ms/frame wall, \d+\.\d ms/frame CPU \(target: at most 60", out)
        assert torch.get_num_threads() == 1  # one core unless --threads
        assert out.rstrip().endswith("left out of the whole set (not ok alone): lpips_alex, akd")

    def test_times_face_metrics_on_a_real_clip(self, faces_dir, capsys):
        call_command("benchmark_metrics", "--clip", str(faces_dir / "fomm_demo_00.mp4"),
                     "--frames", "6", "--size", "128", "--metrics", "aed,akd")
        out = capsys.readouterr().out
        table = out.split("\n\n")[1].splitlines()[1:]
        rows = {line.split()[0]: line for line in table}
        assert set(rows) == {"reference", "aed", "akd"}
        assert all(row.endswith("ok") for row in rows.values())
        for way in ("one pass, first PVS of a SRC", "one pass, next PVS (SRC's side cached)", "per frame, one metric"):
            assert way in out
