"""benchmark_codecs: speed and bits of the codecs, and the feature-stream comparison."""
from fractions import Fraction
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from conftest import synthetic_frames
from qa_platform.codec import benchmark as codec_benchmark
from qa_platform.codec import registry as codec_registry
from qa_platform.codec.base import SourceClip
from qa_platform.core.ingest import prepare_clip

PLUGIN_DIRS = [Path(__file__).resolve().parents[3] / "codecs"]


class TestTimeCodec:
    def test_bits_come_from_the_bytes_written(self, tmp_path):
        codec = codec_registry.get_codec("x264", dirs=PLUGIN_DIRS)
        clip = SourceClip(frames=synthetic_frames(t=10, size=64), fps=Fraction(25))
        timing = codec_benchmark.time_codec(codec, {"qp": 30}, [clip, clip])
        paths = codec.encode(clip, {"qp": 30}, tmp_path)
        assert timing.bits_per_frame == pytest.approx(8 * paths[0].stat().st_size / 10)
        assert timing.kbps == pytest.approx(timing.bits_per_frame * 25 / 1000)
        assert timing.frames == 20 and timing.encode_fps > 0 and timing.decode_fps > 0
        assert timing.feature_bits_per_frame is None and timing.device == "cpu"

    def test_a_generative_codec_gets_both_feature_costs(self, faces_dir):
        codec = codec_registry.get_codec("landmark-warp", dirs=PLUGIN_DIRS)
        source = prepare_clip(faces_dir / "lp_d18.mp4", max_frames=20)
        timing = codec_benchmark.time_codec(codec, {"q": 2.0, "key_qp": 37}, [SourceClip(source.frames, source.fps)])
        assert 0 < timing.feature_bits_per_frame < timing.bits_per_frame
        assert timing.jvet_bits_per_frame * timing.frames % 8 == 0  # whole bytes per frame file
        table = codec_benchmark.timing_table([timing])
        assert "landmark-warp q=2.0 key_qp=37" in table and "JVET-style" in table


class TestCommand:
    def test_prints_one_line_per_rate_point(self, faces_dir):
        out = StringIO()
        call_command("benchmark_codecs", "--codecs", "x264", "--clips", str(faces_dir), "--max-clips", "1",
                     "--frames", "5", "--size", "64", stdout=out)
        lines = [line for line in out.getvalue().splitlines() if line.startswith("x264 qp=")]
        assert len(lines) == len(codec_registry.get_codec("x264", dirs=PLUGIN_DIRS).default_rate_points)


class TestBenchmark:
    def test_a_failing_hrc_is_a_note_not_a_traceback(self):
        codec = codec_registry.get_codec("landmark-warp", dirs=PLUGIN_DIRS)
        no_face = SourceClip(frames=synthetic_frames(t=4, size=64), fps=Fraction(25))
        rows, notes = codec_benchmark.benchmark([codec], [no_face])
        assert rows == [] and len(notes) == len(codec.default_rate_points)
        assert "failed (landmark-warp found no face in any frame" in notes[0]


class TestCompareReferences:
    def test_every_structure_on_the_same_key_frames(self, faces_dir):
        codec = codec_registry.get_codec("landmark-warp", dirs=PLUGIN_DIRS)
        source = prepare_clip(faces_dir / "lp_d0.mp4", max_frames=21)
        results = codec_benchmark.compare_references(codec, {"q": 2.0, "key_qp": 37, "key_period": 10},
                                                     [SourceClip(source.frames, source.fps)])
        assert [r.refs for r in results] == ["last", "bidir", "multi"]
        assert {r.key_frames for r in results} == {3}
        by_refs = {r.refs: r for r in results}
        # The same key frames: bidir pays only its header entry, multi also its reference choices.
        assert by_refs["last"].kbps < by_refs["bidir"].kbps < by_refs["multi"].kbps < 1.01 * by_refs["last"].kbps
        assert by_refs["bidir"].psnr_db > by_refs["last"].psnr_db and 0 < by_refs["last"].ssim < 1
