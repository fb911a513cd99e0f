"""Shared deep features: within a batch, and the SRC's reference side across PVSs."""
import numpy as np
import pytest
import torch

from conftest import synthetic_frames
from metrics import compute, features
from metrics.kernels import full_reference
from metrics.registry import get_metric
from metrics.tests.clips import blurred, noisy

CPU = torch.device("cpu")


def counting(calls: list):
    def compute(tensor):
        calls.append(tensor)
        return [tensor * 2]
    return compute


class TestReferenceFeatureCache:
    def test_least_recently_used_goes_first_within_the_budget(self):
        cache = features.ReferenceFeatureCache(budget_bytes=4 * 400)  # room for four 400-byte entries
        for key in "abcd":
            cache.get_or_compute(key, lambda: [torch.zeros(100)])
        cache.get_or_compute("a", lambda: pytest.fail("a was dropped"))
        cache.get_or_compute("e", lambda: [torch.zeros(100)])  # drops b, the least recently used
        assert cache.hits == 1 and cache.size_bytes == 1600
        calls = []
        cache.get_or_compute("b", lambda: calls.append(1) or [torch.zeros(100)])
        assert calls == [1]

    def test_an_entry_over_a_quarter_of_the_budget_is_not_kept(self):
        cache = features.ReferenceFeatureCache(budget_bytes=1000)
        cache.get_or_compute("big", lambda: [torch.zeros(100)])  # 400 bytes > 250
        assert cache.size_bytes == 0


class TestFeatures:
    def test_outside_a_batch_nothing_is_shared(self):
        calls = []
        tensor = torch.ones(1)
        features.features("x", tensor, features.DISTORTED, counting(calls))
        features.features("x", tensor, features.DISTORTED, counting(calls))
        assert len(calls) == 2

    def test_within_a_batch_each_side_is_computed_once(self):
        calls = []
        with features.batch_features(None):
            for _ in range(3):
                features.features("x", torch.ones(1), features.DISTORTED, counting(calls))
                features.features("x", torch.ones(1), features.REFERENCE, counting(calls))
        assert len(calls) == 2

    def test_a_named_reference_is_reused_by_the_next_batch_of_that_name_only(self):
        calls = []
        features.set_budget(1 << 20)
        for key in ("src-1", "src-1", "src-2"):
            with features.batch_features(key):
                features.features("x", torch.ones(1), features.REFERENCE, counting(calls))
        assert len(calls) == 2 and features.FEATURE_CACHE.hits == 1


@pytest.fixture
def random_lpips(monkeypatch):
    """lpips models on random backbones (no ImageNet weights here): plumbing only."""
    import lpips

    torch.manual_seed(0)
    models = {net: lpips.LPIPS(net=net, version="0.1", pnet_rand=True, verbose=False).eval() for net in ("alex", "vgg")}
    monkeypatch.setattr(full_reference, "lpips_model", lambda net, device: models[net])
    return models


def test_the_next_pvs_of_a_src_reuses_its_reference_features_random_backbone_plumbing(random_lpips):
    reference = np.repeat(np.repeat(synthetic_frames(t=6, size=32), 2, axis=1), 2, axis=2)
    specs = [get_metric("lpips_alex"), get_metric("lpips_vgg")]
    run = lambda distorted, key: compute.run_metrics(  # noqa: E731
        specs, distorted, reference, device=CPU, batch_size=4, reference_key=key, feature_cache_bytes=1 << 30)
    for distorted in (noisy(reference, 5), blurred(reference, 1.0)):
        cached, uncached = run(distorted, ("src", 1)), run(distorted, None)
        for name in ("lpips_alex", "lpips_vgg"):
            np.testing.assert_allclose(cached[name], uncached[name], rtol=1e-6)
            assert cached[name].shape == (6,) and (cached[name] > 0).all()
    # Two batches (4 + 2 frames) x two networks: computed for the first PVS, reused by the second.
    assert features.FEATURE_CACHE.misses == 4 and features.FEATURE_CACHE.hits == 4
