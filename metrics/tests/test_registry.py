import pytest

from metrics import registry
from metrics.pooling import POOLINGS, pooling_label
from metrics.registry import (
    CLIP,
    FACE,
    FACE_REGION,
    FULL_REFERENCE,
    DuplicateMetricError,
    MetricRegistry,
    MetricSpec,
    UnknownMetricError,
    all_metrics,
    get_metric,
)
from metrics.weights import WEIGHTS

# The web pages are written against these names, in this order.
FIXED_NAMES = [
    "psnr_rgb", "psnr_y", "psnr_yuv", "xpsnr_y", "ssim", "ms_ssim", "fsim", "gmsd", "vif", "lpips_alex", "lpips_vgg",
    "dists", "vmaf", "vmaf_torch", "tdiff", "tof", "face_psnr", "face_ssim", "face_lpips", "aed", "id_sim", "akd", "akd_mouth", "akd_eyes",
    "pose_yaw", "pose_pitch", "pose_roll", "ear_r", "mouth_r",
]


def make_spec(name="m", **changes) -> MetricSpec:
    fields = dict(
        name=name, label="M", unit="", value_range=(0.0, 1.0), higher_is_better=True,
        kind=FULL_REFERENCE, device="cpu", version="1", source="test",
        kernel_path="metrics.kernels.full_reference:psnr_rgb",
    )
    return MetricSpec(**(fields | changes))


class TestRegistry:
    def test_lists_the_fixed_names_in_table_order(self):
        assert list(all_metrics()) == FIXED_NAMES

    def test_kinds(self):
        kinds = {name: spec.kind for name, spec in all_metrics().items()}
        assert [n for n, k in kinds.items() if k == CLIP] == ["psnr_yuv", "xpsnr_y", "vmaf", "vmaf_torch", "tdiff", "tof"]
        assert [n for n, k in kinds.items() if k == FACE_REGION] == ["face_psnr", "face_ssim", "face_lpips"]
        assert [n for n, k in kinds.items() if k == FACE] == FIXED_NAMES[19:]

    def test_deep_metrics_belong_on_the_gpu_queue(self):
        on_gpu = [n for n, spec in all_metrics().items() if spec.device == "gpu"]
        assert on_gpu == ["lpips_alex", "lpips_vgg", "dists", "vmaf_torch", "face_lpips"]

    def test_the_two_vmaf_implementations_are_told_apart_by_name_and_version(self):
        libvmaf, torch_port = get_metric("vmaf"), get_metric("vmaf_torch")
        assert libvmaf.device == "cpu" and "libvmaf-" in libvmaf.version and "vmaf_v0.6.1" in libvmaf.version
        assert torch_port.version.startswith("1/vmaf-torch-") and torch_port.version.endswith("vmaf_v0.6.1")

    def test_directions(self):
        lower_is_better = [n for n, spec in all_metrics().items() if not spec.higher_is_better]
        assert lower_is_better == ["gmsd", "lpips_alex", "lpips_vgg", "dists", "tdiff", "tof", "face_lpips", "aed",
                                   "akd", "akd_mouth", "akd_eyes", "pose_yaw", "pose_pitch", "pose_roll"]

    def test_every_kernel_path_names_a_function(self):
        for spec in all_metrics().values():
            assert callable(spec.load_kernel()), spec.name

    def test_every_declared_weight_is_in_the_weights_registry(self):
        for spec in all_metrics().values():
            assert set(spec.weights) <= set(WEIGHTS), spec.name

    def test_versions_and_poolings_fit_their_result_columns(self):
        for spec in all_metrics().values():
            assert 0 < len(spec.version) <= 64, spec.name
            assert all(len(pooling_label(method, spec)) <= 32 for method in POOLINGS), spec.name

    def test_every_metric_states_unit_range_and_source(self):
        for spec in all_metrics().values():
            assert spec.label and len(spec.source) > 40 and spec.value_range[0] < spec.value_range[1], spec.name

    def test_only_the_expression_agreements_pool_themselves(self):
        fixed = [n for n, spec in all_metrics().items() if spec.fixed_pooling]
        assert fixed == ["ear_r", "mouth_r"]
        assert all(all_metrics()[n].frame_values for n in fixed)

    def test_unknown_name_suggests_close_names(self):
        with pytest.raises(UnknownMetricError, match=r"did you mean psnr_y, xpsnr_y, psnr_yuv\?"):
            get_metric("psnr-yy")

    def test_duplicate_name_is_refused(self):
        registry = MetricRegistry()
        registry.register(make_spec("x"))
        with pytest.raises(DuplicateMetricError, match="'x' is already registered"):
            registry.register(make_spec("x", label="other"))

    def test_returned_dict_is_a_copy(self):
        all_metrics().pop("ssim")
        assert "ssim" in all_metrics()


class TestMetricSpec:
    @pytest.mark.parametrize("changes, message", [
        ({"kind": "no-reference"}, "kind must be one of"),
        ({"device": "tpu"}, "device must be one of"),
        ({"value_range": (1.0, 1.0)}, "is empty"),
        ({"frame_step": 0}, "frame_step must be >= 1"),
    ])
    def test_invalid_declarations_are_refused(self, changes, message):
        with pytest.raises(ValueError, match=message):
            make_spec(**changes)


def test_the_demo_set_is_every_metric_but_the_slow_ones_in_table_order():
    names = registry.demo_metric_names()
    assert names == [name for name in registry.all_metrics() if name not in ("fsim", "vif", "vmaf_torch")]
    assert set(registry.SLOW_ON_CPU) <= set(registry.all_metrics())
