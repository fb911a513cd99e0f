from metrics.checks import ffmpeg_program_check, job_metrics_check, metric_weights_check


class TestMetricWeightsCheck:
    def test_warns_for_each_metric_whose_weights_are_missing(self):
        warnings = metric_weights_check()
        assert [w.id for w in warnings] == ["metrics.W001"] * 4
        assert "lpips_alex will be reported unavailable" in warnings[0].msg
        assert "alexnet-owt-7be5be79.pth" in warnings[0].msg
        assert "vgg16-397923af.pth" in warnings[1].msg and "lpips_vgg" in warnings[1].msg
        assert "dists_weights.pt" in warnings[2].msg
        assert "face_lpips" in warnings[3].msg
        assert "fetch_weights" in warnings[0].hint

    def test_is_silent_when_every_weight_file_is_there(self, stand_in_weights):
        assert metric_weights_check() == []


class TestJobMetricsCheck:
    def test_unknown_names_in_either_setting_are_errors(self, settings):
        settings.FACEQA_JOB_METRICS = ["psnr_rgb", "vmaff"]
        settings.FACEQA_JOB_SKIP_METRICS = ["fism"]
        errors = job_metrics_check(None)
        assert [e.id for e in errors] == ["metrics.E001", "metrics.E001"]
        assert "did you mean vmaf" in errors[0].msg and errors[1].msg.startswith("FACEQA_JOB_SKIP_METRICS")

    def test_is_silent_for_registered_names(self, settings):
        settings.FACEQA_JOB_METRICS, settings.FACEQA_JOB_SKIP_METRICS = ["vmaf"], ["fsim"]
        assert job_metrics_check(None) == []


class TestFfmpegProgramCheck:
    def test_is_silent_with_the_ffmpeg_program_of_imageio_ffmpeg(self):
        assert ffmpeg_program_check(None) == []

    def test_warns_that_vmaf_and_xpsnr_will_be_unavailable_without_it(self, monkeypatch):
        from qa_platform.codec import ffmpeg

        def absent():
            raise ffmpeg.FFmpegError("imageio-ffmpeg has no FFmpeg program here (test)")

        monkeypatch.setattr(ffmpeg, "executable", absent)
        warnings = ffmpeg_program_check(None)
        assert [w.id for w in warnings] == ["metrics.W002"]
        assert "vmaf, xpsnr_y will be reported unavailable" in warnings[0].msg
