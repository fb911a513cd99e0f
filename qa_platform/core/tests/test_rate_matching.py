"""Matched-bitrate searches: the bisection alone, then through a PVS job with cached probes."""
import pytest

from qa_platform.codec.base import TARGET_KBPS, CodecError
from qa_platform.codec.rate_matching import match_rate, within
from qa_platform.core.models import JobStatus, Pvs, RateProbe
from qa_platform.core.services import RateNotReached, database_build, pvs_code

LADDER = [{"rung": index} for index in range(40)]


def geometric(params: dict) -> float:
    """A codec whose rate grows 10 % per rung from 2 kbit/s (as a QP step does)."""
    return 2.0 * 1.1 ** params["rung"]


class TestMatchRate:
    @pytest.mark.parametrize("target", [2.0, 5.0, 16.0, 60.0])
    def test_lands_within_ten_percent_in_few_probes(self, target):
        match = match_rate(LADDER, geometric, target)
        assert match.reached and within(match.kbps, target) and match.kbps == geometric(match.params)
        assert len(match.probes) <= 8

    def test_each_rung_is_probed_once(self):
        calls = []
        match_rate(LADDER, lambda params: calls.append(params["rung"]) or geometric(params), 16.0)
        assert len(calls) == len(set(calls))

    def test_a_target_below_the_lowest_rate_is_reported_not_faked(self):
        match = match_rate(LADDER, geometric, 1.0, label=lambda params: f"rung {params['rung']}")
        assert not match.reached and match.params is None
        assert "lowest rate is 2.00 kbit/s (rung 0)" in match.reason

    def test_a_target_above_the_highest_rate_is_reported(self):
        assert "highest rate" in match_rate(LADDER, geometric, 1e6).reason

    def test_a_gap_between_rungs_is_reported_with_both_neighbours(self):
        coarse = lambda params: 2.0 * 2.0 ** params["rung"]  # noqa: E731 (doubling per rung)
        match = match_rate(LADDER[:8], coarse, 11.5)
        assert not match.reached and "jumps from 8.00 kbit/s" in match.reason and "16.00" in match.reason

    def test_refuses_an_empty_ladder_and_a_target_not_positive(self):
        with pytest.raises(ValueError, match="ladder"):
            match_rate([], geometric, 8.0)
        with pytest.raises(ValueError, match="positive"):
            match_rate(LADDER, geometric, 0.0)


@pytest.mark.django_db
class TestMatchedBitratePvs:
    def build(self, source, targets, django_capture_on_commit_callbacks):
        with django_capture_on_commit_callbacks(execute=False):
            return database_build(codec_names=["x265"], sources=[source],
                                  rate_points={"x265": [{TARGET_KBPS: target} for target in targets]})

    def test_each_pvs_lands_within_ten_percent_of_its_target(self, source, django_capture_on_commit_callbacks):
        # Targets near a rung of this clip (x265 QP 17: 39.3, QP 7: 94.9 kbit/s): at QP 4 and below x265's
        # size varies by up to 4 % from run to run on 2 cores (its thread pool), so a target the search meets
        # at 9.9 % (120 kbit/s at QP 4) made the final encode land outside 10 % about one run in twenty.
        built = self.build(source, [40.0, 95.0], django_capture_on_commit_callbacks)
        assert [pvs.hrc.label for pvs in built] == ["x265 @ 40 kbit/s", "x265 @ 95 kbit/s"]
        for pvs, target in zip(built, [40.0, 95.0]):
            coded = pvs_code(pvs=pvs)
            assert within(coded.kbps, target) and "qp" in coded.params
        assert built[0].params["qp"] > Pvs.objects.get(pk=built[1].pk).params["qp"]

    def test_searches_are_cached_across_targets_and_runs(self, source, django_capture_on_commit_callbacks):
        first = self.build(source, [40.0], django_capture_on_commit_callbacks)[0]
        pvs_code(pvs=first)
        probes = RateProbe.objects.count()
        Pvs.objects.filter(pk=first.pk).update(params=None, kbps=None)
        pvs_code(pvs=Pvs.objects.get(pk=first.pk))
        assert RateProbe.objects.count() == probes

    def test_an_unreachable_target_fails_with_the_nearest_rate(self, source, django_capture_on_commit_callbacks):
        pvs = self.build(source, [0.01], django_capture_on_commit_callbacks)[0]
        with pytest.raises(RateNotReached, match=r"cannot code synthetic at 0.01 kbit/s: its lowest rate is .* \(x265 qp=51\)"):
            pvs_code(pvs=pvs)
        assert Pvs.objects.get(pk=pvs.pk).status == JobStatus.QUEUED and not Pvs.objects.get(pk=pvs.pk).kbps

    def test_a_codec_without_a_ladder_is_refused_before_any_job(self, source, django_capture_on_commit_callbacks,
                                                               monkeypatch):
        from qa_platform.codec import anchor as pyav_codec

        monkeypatch.setattr(pyav_codec.AnchorCodec, "rate_ladder", lambda self: [])
        with pytest.raises(CodecError, match="no rate ladder"):
            self.build(source, [8.0], django_capture_on_commit_callbacks)
        assert not Pvs.objects.exists()


class TestLadderParams:
    def test_moving_and_fixed_params(self):
        from qa_platform.codec.rate_matching import fixed_params, moving_params

        ladder = [{"checkpoint": "ab", "q": 4.0, "key_qp": 47}, {"checkpoint": "ab", "q": 2.0, "key_qp": 42}]
        assert moving_params(ladder) == {"q", "key_qp"} and fixed_params(ladder) == {"checkpoint": "ab"}

    def test_a_matched_hrc_leaves_the_moving_params_to_the_search(self):
        from qa_platform.codec import registry as codec_registry
        from qa_platform.codec.tests.test_codecs import PLUGIN_DIRS

        codec = codec_registry.get_codec("landmark-warp", dirs=PLUGIN_DIRS)
        with pytest.raises(CodecError, match="the search chooses key_qp, q"):
            codec.check_params({TARGET_KBPS: 8, "q": 2.0, "key_qp": 37})
        assert codec.check_params({TARGET_KBPS: 8, "key_period": 10})


    def test_curve_names_group_hrcs_that_differ_in_rate_only(self):
        from qa_platform.codec import registry as codec_registry
        from qa_platform.codec.tests.test_codecs import PLUGIN_DIRS

        x265 = codec_registry.get_codec("x265", dirs=PLUGIN_DIRS)
        warp = codec_registry.get_codec("landmark-warp", dirs=PLUGIN_DIRS)
        assert x265.curve_name({"qp": 30}) == x265.curve_name({TARGET_KBPS: 8}) == "x265"
        assert warp.curve_name({"q": 2.0, "key_qp": 37}) == "landmark-warp"
        assert warp.curve_name({"q": 2.0, "key_qp": 37, "key_period": 10}) == "landmark-warp key_period=10"
        assert warp.curve_name({"q": 1.0, "key_qp": 32, "controls": {"mouth": 0.3}}) == "landmark-warp mouth=0.3"

    def test_keypoint_anim_curves_need_no_checkpoint(self, data_dir, monkeypatch):
        from qa_platform.codec import registry as codec_registry
        from qa_platform.codec.checkpoints import ENV_VAR
        from qa_platform.codec.tests.test_codecs import PLUGIN_DIRS

        monkeypatch.delenv(ENV_VAR, raising=False)  # checkpoints under the empty data_dir: none
        anim = codec_registry.get_codec("keypoint-anim", dirs=PLUGIN_DIRS)
        assert anim.unavailable_reason() and anim.rate_ladder() == []
        checkpoint = "0123456789abcdef"
        names = {anim.curve_name({"checkpoint": checkpoint, "q": q, "key_qp": key_qp})
                 for q, key_qp in ((4.0, 47), (1.0, 37), (0.5, 32))}
        assert names == {f"keypoint-anim checkpoint={checkpoint}"}
        assert (anim.curve_name({"checkpoint": checkpoint, "q": 1.0, "key_qp": 37, "key_period": 10})
                == f"keypoint-anim checkpoint={checkpoint} key_period=10")


@pytest.mark.django_db
def test_the_search_keeps_the_hrcs_other_params(data_dir, faces_dir, django_capture_on_commit_callbacks):
    from qa_platform.codec import video
    from qa_platform.core.ingest import prepare_clip
    from qa_platform.core.models import Source

    clip = prepare_clip(faces_dir / "lp_d18.mp4", max_frames=20)
    video.write_lossless(data_dir / "sources" / "face" / "src.mkv", clip.frames, clip.fps)
    face = Source.objects.create(
        name="face", origin_path="/dev/null", origin_sha256="2" * 64, size=256, fps_num=25, max_frames=20,
        frame_count=20, crop_x=0, crop_y=0, crop_size=256, lossless_path="sources/face/src.mkv",
        browser_path="sources/face/src.mp4",
    )
    with django_capture_on_commit_callbacks(execute=False):
        pvs, = database_build(codec_names=["landmark-warp"], sources=[face],
                              rate_points={"landmark-warp": [{TARGET_KBPS: 20.0, "key_period": 10}]})
    coded = pvs_code(pvs=pvs)
    assert coded.params["key_period"] == 10 and {"q", "key_qp"} <= set(coded.params)
    assert within(coded.kbps, 20.0)
    assert all(probe.params["key_period"] == 10 for probe in RateProbe.objects.all())
