"""The FOMM networks, loss and training loop (qa_platform.codec.fomm, training.fomm_training) on the CPU at 64 px."""
import json
import math

import numpy as np
import pytest
import torch

from qa_platform.codec.checkpoints import (
    CheckpointError,
    find_checkpoint,
    read_checkpoint,
)
from qa_platform.codec.fomm import (
    DenseMotionNetwork,
    Fomm,
    FommConfig,
    FommConfigError,
    Generator,
    KeypointDetector,
    Keypoints,
    coordinate_grid,
    load_checkpoint,
    model_from_checkpoint,
    sparse_motions,
)
from training.fomm_losses import (
    FommLoss,
    RandomTps,
    ms_ssim_levels,
    perceptual_backbone,
)
from training.fomm_training import TrainingError, TrainingOptions, train_fomm
from training.tests.conftest import TINY


def images(batch: int = 2, seed: int = 0) -> torch.Tensor:
    return torch.rand(batch, 3, 64, 64, generator=torch.Generator().manual_seed(seed))




@pytest.mark.parametrize("jacobians", [True, False])
class TestNetworkShapes:
    def test_keypoint_detector_gives_k_points_in_the_frame_and_identity_jacobians_at_start(self, jacobians):
        kp = KeypointDetector(FommConfig(size=64, num_kp=4, jacobians=jacobians))(images())
        assert kp.value.shape == (2, 4, 2) and kp.value.abs().max() <= 1
        if jacobians:
            assert kp.jacobian.shape == (2, 4, 2, 2)
            assert torch.allclose(kp.jacobian, torch.eye(2).expand(2, 4, 2, 2), atol=1e-6)
        else:
            assert kp.jacobian is None

    def test_dense_motion_masks_sum_to_one_and_occlusion_is_a_probability(self, jacobians):
        config = FommConfig(size=64, num_kp=4, jacobians=jacobians)
        detector = KeypointDetector(config)
        source, driving = images(seed=0), images(seed=1)
        out = DenseMotionNetwork(config)(source, detector(source), detector(driving))
        assert out["mask"].shape == (2, 5, 16, 16)
        assert torch.allclose(out["mask"].sum(1), torch.ones(2, 16, 16), atol=1e-5)
        assert out["deformation"].shape == (2, 16, 16, 2)
        assert out["occlusion"].shape == (2, 1, 16, 16)
        assert 0 < out["occlusion"].min() and out["occlusion"].max() < 1

    def test_generator_outputs_an_rgb_frame_in_0_1(self, jacobians):
        config = FommConfig(size=64, num_kp=4, jacobians=jacobians)
        detector = KeypointDetector(config)
        source, driving = images(seed=0), images(seed=1)
        out = Generator(config)(source, detector(source), detector(driving))
        assert out["prediction"].shape == out["deformed"].shape == (2, 3, 64, 64)
        assert 0 <= out["prediction"].min() and out["prediction"].max() <= 1


def test_the_motion_hourglasses_go_down_to_two_pixels_at_every_size():
    assert [FommConfig(size=s).hourglass_blocks for s in (64, 128, 256)] == [3, 4, 5]
    for size in (128, 256):
        kp = KeypointDetector(FommConfig(size=size, num_kp=3))(torch.rand(1, 3, size, size))
        assert kp.value.shape == (1, 3, 2)


def test_sparse_motion_is_the_first_order_taylor_expansion():
    """T(z) = kp_S + J_S J_D^-1 (z - kp_D) (FOMM eq. 4): a rotated source Jacobian rotates the offset."""
    angle = 0.3
    rotation = torch.tensor([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    source = Keypoints(torch.tensor([[[0.2, -0.1]]]), rotation.view(1, 1, 2, 2))
    driving = Keypoints(torch.tensor([[[-0.3, 0.4]]]), torch.eye(2).view(1, 1, 2, 2))
    motions = sparse_motions(source, driving, 9, 9)
    grid = coordinate_grid(9, 9)
    assert motions.shape == (1, 2, 9, 9, 2)
    assert torch.allclose(motions[0, 0], grid)
    expected = source.value[0, 0] + (grid - driving.value[0, 0]) @ rotation.T
    assert torch.allclose(motions[0, 1], expected, atol=1e-6)
    same = sparse_motions(driving, driving, 9, 9)
    assert torch.allclose(same[0, 1], grid, atol=1e-6)


def test_random_tps_jacobian_matches_finite_differences():
    transform = RandomTps(2, torch.Generator().manual_seed(3))
    points = (torch.rand(2, 5, 2, dtype=torch.float64) * 2 - 1).requires_grad_()
    transform.theta, transform.weights, transform.control = (
        t.double() for t in (transform.theta, transform.weights, transform.control))
    jacobian = transform.jacobian(points)
    eps = 1e-6
    for axis in range(2):
        shift = torch.zeros_like(points)
        shift[..., axis] = eps
        numeric = (transform.warp_coordinates(points + shift) - transform.warp_coordinates(points - shift)) / (2 * eps)
        assert torch.allclose(jacobian[..., axis], numeric, atol=1e-6)


def test_config_is_json_and_refuses_bad_values():
    config = FommConfig(size=128, num_kp=6, jacobians=False)
    assert FommConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    with pytest.raises(FommConfigError, match="size must be one of"):
        FommConfig(size=100)
    with pytest.raises(FommConfigError, match="num_kp"):
        FommConfig(num_kp=0)
    with pytest.raises(FommConfigError, match="unknown FOMM configuration key"):
        FommConfig.from_dict({"size": 64, "keypoints": 4})


def test_ms_ssim_uses_the_scales_that_fit_the_frame():
    assert [ms_ssim_levels(s) for s in (64, 128, 256)] == [3, 4, 5]


def test_without_vgg_weights_the_loss_is_l1_plus_ms_ssim_and_zero_for_a_perfect_frame(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    assert perceptual_backbone() is None
    loss = FommLoss(TINY)
    assert loss.description["type"] == "l1+ms-ssim" and loss.description["ms_ssim_levels"] == 3
    frame = images()
    assert loss.reconstruction(frame, frame).item() == pytest.approx(0, abs=1e-6)
    assert loss.reconstruction(images(seed=1), frame).item() > 0.1


@pytest.mark.slow  # trains
def test_the_loss_falls_over_32_steps_on_a_tiny_clip(clip, tmp_path):
    losses = []
    saved = train_fomm(clips=[clip], config=TINY, options=TrainingOptions(epochs=8, batch_size=4), folder=tmp_path,
                       progress=lambda report: losses.append(report.loss))
    assert len(losses) == saved.step == 32 and saved.complete
    assert np.mean(losses[-5:]) < 0.7 * np.mean(losses[:5]), losses
    # One checkpoint per epoch end is kept; none from inside an epoch.
    assert len(list(tmp_path.glob("*.pt"))) == 8


@pytest.mark.slow  # trains
def test_a_checkpoint_is_named_by_its_hash_holds_the_run_and_an_altered_one_is_refused(clip, tmp_path):
    saved = train_fomm(clips=[clip], config=TINY, options=TrainingOptions(epochs=1, batch_size=8), folder=tmp_path)
    assert find_checkpoint(saved.sha256[:16], tmp_path) == saved.path
    assert read_checkpoint(saved.path)[1] == saved.sha256 == saved.path.stem
    payload = load_checkpoint(saved.path)
    assert payload["config"] == TINY.to_dict() and payload["loss"]["type"] == "l1+ms-ssim"
    assert payload["sources"] == [{"name": "blob", "sha256": "0" * 64, "frames": 16}]
    assert payload["epochs_done"] == 1 and payload["step"] == 2 and len(payload["loss_history"]) == 2
    model = model_from_checkpoint(payload)
    assert isinstance(model, Fomm) and not model.training
    data = bytearray(saved.path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    saved.path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="altered or damaged"):
        load_checkpoint(saved.path)
    with pytest.raises(CheckpointError, match="no checkpoint"):
        find_checkpoint("f" * 16, tmp_path)
    with pytest.raises(CheckpointError, match="16 to 64 lower-case hex"):
        find_checkpoint("abc", tmp_path)


class Interrupt(Exception):
    pass


@pytest.mark.slow  # trains
def test_a_resumed_run_continues_where_it_stopped_with_the_same_losses(clip, tmp_path):
    options = TrainingOptions(epochs=2, batch_size=4, checkpoint_every=3)
    whole = train_fomm(clips=[clip], config=TINY, options=options, folder=tmp_path / "whole")
    saved = []

    def stop_at_step_7(report):
        if report.step == 7:
            raise Interrupt

    with pytest.raises(Interrupt):
        train_fomm(clips=[clip], config=TINY, options=options, folder=tmp_path / "cut", progress=stop_at_step_7,
                   on_checkpoint=saved.append)
    assert [c.step for c in saved] == [3, 4, 6]
    steps = []
    resumed = train_fomm(clips=[clip], config=TINY, options=options, folder=tmp_path / "cut",
                         resume_from=saved[-1].path, progress=lambda report: steps.append(report.step))
    assert steps == [7, 8]
    first, second = load_checkpoint(whole.path), load_checkpoint(resumed.path)
    assert second["step"] == 8 and second["epochs_done"] == 2
    assert second["optimizer"]["state"][0]["step"] == first["optimizer"]["state"][0]["step"] == 8
    np.testing.assert_allclose(second["loss_history"], first["loss_history"], rtol=1e-5)
    for name, tensor in first["model"].items():
        torch.testing.assert_close(second["model"][name], tensor, rtol=1e-4, atol=1e-5, msg=name)
    # The mid-epoch checkpoint it resumed from is gone; the epoch ends stay.
    assert not saved[-1].path.exists() and saved[1].path.exists()


@pytest.mark.slow  # trains
def test_resuming_with_other_clips_or_config_is_refused(clip, tmp_path):
    options = TrainingOptions(epochs=1, batch_size=8)
    saved = train_fomm(clips=[clip], config=TINY, options=options, folder=tmp_path)
    with pytest.raises(TrainingError, match="model configuration"):
        train_fomm(clips=[clip], config=FommConfig(size=64, num_kp=5), options=TrainingOptions(epochs=2, batch_size=8),
                   folder=tmp_path, resume_from=saved.path)
    with pytest.raises(TrainingError, match="expected"):
        train_fomm(clips=[type(clip)("x", "1" * 64, clip.frames[:, :32])], config=TINY, options=options,
                   folder=tmp_path)
