import pytest

from metrics.registry import (
    FACE, FULL_REFERENCE, DuplicateMetricError, MetricRegistry, MetricSpec, UnknownMetricError,
    all_metrics, get_metric,
)
from metrics.weights import WEIGHTS

# The web pages are written against these names, in this order.
FIXED_NAMES = ["psnr_rgb", "psnr_y", "ssim", "ms_ssim", "lpips_alex", "dists", "aed", "akd"]


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

    def test_kinds_split_full_reference_and_face_metrics(self):
        kinds = {name: spec.kind for name, spec in all_metrics().items()}
        assert [n for n, k in kinds.items() if k == FACE] == ["aed", "akd"]

    def test_directions(self):
        lower_is_better = [n for n, spec in all_metrics().items() if not spec.higher_is_better]
        assert lower_is_better == ["lpips_alex", "dists", "aed", "akd"]

    def test_every_kernel_path_names_a_function(self):
        for spec in all_metrics().values():
            assert callable(spec.load_kernel()), spec.name

    def test_every_declared_weight_is_in_the_weights_registry(self):
        for spec in all_metrics().values():
            assert set(spec.weights) <= set(WEIGHTS), spec.name

    def test_versions_fit_the_result_column(self):
        for spec in all_metrics().values():
            assert 0 < len(spec.version) <= 64 and len(spec.pooling) <= 32, spec.name

    def test_aed_pooling_names_its_frame_step(self):
        assert get_metric("aed").frame_step == 5
        assert get_metric("aed").pooling == "mean, every 5th frame"
        assert get_metric("psnr_rgb").pooling == "mean"

    def test_unknown_name_suggests_close_names(self):
        with pytest.raises(UnknownMetricError, match=r"did you mean psnr_y\?"):
            get_metric("psnr-y")

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
