import cv2
import numpy as np
import pytest

from metrics.kernels import face
from metrics.pooling import PoolingError
from metrics.tests.clips import blurred, shifted
from qa_platform.codec.faces import NoFaceError

STEP = 5


@pytest.fixture
def clip_and_faces(face_clip, face_clip_faces):
    """(frames uint8 (20, 256, 256, 3), their ReferenceFaces)."""
    return face_clip[0], face_clip_faces


class TestReferenceFaces:
    def test_every_frame_has_a_box_and_68_landmarks(self, clip_and_faces):
        frames, faces = clip_and_faces
        assert faces.boxes.shape == (20, 4) and faces.landmarks.shape == (20, 68, 2)
        assert np.isfinite(faces.boxes).all() and np.isfinite(faces.landmarks).all()

    def test_embeddings_only_on_every_step_th_frame(self, clip_and_faces):
        _, faces = clip_and_faces
        has_embedding = np.isfinite(faces.embeddings).all(axis=1)
        assert np.flatnonzero(has_embedding).tolist() == [0, 5, 10, 15]
        assert np.isnan(faces.embeddings[~has_embedding]).all()

    def test_a_clip_without_a_face_raises(self, small_clip):
        frames, _ = small_clip
        with pytest.raises(NoFaceError):
            face.reference_faces(frames, STEP)

    def test_cache_round_trip(self, clip_and_faces, tmp_path):
        _, faces = clip_and_faces
        path = face.save_reference_faces(faces, tmp_path / "faces.npz")
        loaded = face.load_reference_faces(path, frame_count=20, embedding_step=STEP)
        np.testing.assert_array_equal(loaded.landmarks, faces.landmarks)
        np.testing.assert_array_equal(loaded.embeddings, faces.embeddings)

    @pytest.mark.parametrize("frame_count, step", [(19, STEP), (20, 3)])
    def test_a_cache_for_other_frames_or_step_is_stale(self, clip_and_faces, tmp_path, frame_count, step):
        _, faces = clip_and_faces
        path = face.save_reference_faces(faces, tmp_path / "faces.npz")
        assert face.load_reference_faces(path, frame_count=frame_count, embedding_step=step) is None

    def test_an_absent_cache_is_none(self, tmp_path):
        assert face.load_reference_faces(tmp_path / "faces.npz", frame_count=20, embedding_step=STEP) is None


def measured(frames, faces) -> face.DistortedFaces:
    return face.DistortedFaces(frames, faces)


class TestDistortedFaces:
    def test_frame_count_mismatch_is_refused(self, clip_and_faces):
        frames, faces = clip_and_faces
        with pytest.raises(ValueError, match="19 frames, the reference faces 20"):
            measured(frames[:19], faces)

    def test_non_uint8_frames_are_refused(self, clip_and_faces):
        frames, faces = clip_and_faces
        with pytest.raises(ValueError, match="uint8"):
            measured(frames.astype(np.float32), faces)

    def test_landmarks_are_measured_once_for_every_metric(self, clip_and_faces, monkeypatch):
        frames, faces = clip_and_faces
        distorted = measured(blurred(frames, sigma=2), faces)
        face.akd(distorted)
        monkeypatch.setattr(face.dlib_faces, "landmarks", lambda *args: pytest.fail("landmarks measured again"))
        face.akd_mouth(distorted), face.pose_yaw_error(distorted), face.eye_agreement(distorted)

    def test_poses_are_fitted_once_for_the_three_angles(self, clip_and_faces, monkeypatch):
        frames, faces = clip_and_faces
        distorted = measured(blurred(frames, sigma=2), faces)
        face.pose_yaw_error(distorted)
        monkeypatch.setattr(face.dlib_faces, "head_pose", lambda *args: pytest.fail("pose fitted again"))
        face.pose_pitch_error(distorted), face.pose_roll_error(distorted)


class TestIdentity:
    def test_a_clip_against_itself_is_zero_on_sampled_frames_only(self, clip_and_faces):
        frames, faces = clip_and_faces
        values = face.aed(measured(frames, faces))
        assert values.shape == (20,)
        np.testing.assert_allclose(values[::STEP], 0.0, atol=1e-9)
        assert np.isnan(np.delete(values, np.s_[::STEP])).all()

    def test_a_blurred_clip_is_clearly_farther(self, clip_and_faces):
        frames, faces = clip_and_faces
        values = face.aed(measured(blurred(frames, sigma=4), faces))
        assert np.nanmean(values) > 0.05

    def test_cosine_similarity_is_one_for_itself_and_falls_with_blur(self, clip_and_faces):
        frames, faces = clip_and_faces
        np.testing.assert_allclose(face.identity_similarity(measured(frames, faces))[::STEP], 1.0, atol=1e-9)
        blurry = face.identity_similarity(measured(blurred(frames, sigma=4), faces))
        assert 0.5 < np.nanmean(blurry) < 0.9999 and np.isnan(blurry[1])


class TestAkd:
    def test_a_clip_against_itself_is_zero_on_every_frame(self, clip_and_faces):
        frames, faces = clip_and_faces
        distorted = measured(frames, faces)
        for kernel in (face.akd, face.akd_mouth, face.akd_eyes):
            np.testing.assert_allclose(kernel(distorted), np.zeros(20), atol=1e-12)

    def test_a_face_shifted_by_4_pixels_moves_its_landmarks(self, clip_and_faces):
        frames, faces = clip_and_faces
        values = face.akd(measured(shifted(frames, 4), faces))
        # 4 px over an inter-ocular distance of about 65 px is about 0.06.
        assert values.shape == (20,) and np.isfinite(values).all()
        assert 0.03 < values.mean() < 0.12

    def test_a_mouth_frozen_in_place_shows_in_the_mouth_and_not_in_the_eyes(self, clip_and_faces):
        frames, faces = clip_and_faces
        mouth = faces.landmarks[:, 48:68]
        x0, y0 = np.floor(mouth.min(axis=(0, 1))).astype(int) - 4
        x1, y1 = np.ceil(mouth.max(axis=(0, 1))).astype(int) + 4
        frozen = frames.copy()
        frozen[:, y0:y1, x0:x1] = frames[0, y0:y1, x0:x1]  # the mouth of frame 0 pasted on every frame
        distorted = measured(frozen, faces)
        assert np.mean(face.akd_mouth(distorted)) > 2 * np.mean(face.akd_eyes(distorted))


class TestHeadPose:
    def test_itself_gives_no_error(self, clip_and_faces):
        frames, faces = clip_and_faces
        distorted = measured(frames, faces)
        for kernel in (face.pose_yaw_error, face.pose_pitch_error, face.pose_roll_error):
            np.testing.assert_allclose(kernel(distorted), np.zeros(20), atol=1e-6)

    def test_a_face_turned_in_the_image_plane_shows_as_roll(self, clip_and_faces):
        frames, faces = clip_and_faces
        centre = tuple(faces.landmarks[0, 30])
        turn = cv2.getRotationMatrix2D(centre, 10.0, 1.0)
        turned = np.stack([cv2.warpAffine(frame, turn, frame.shape[1::-1], borderMode=cv2.BORDER_REPLICATE)
                           for frame in frames])
        distorted = measured(turned, faces)
        roll = np.median(face.pose_roll_error(distorted))
        assert 6 < roll < 14
        assert np.median(face.pose_yaw_error(distorted)) < roll / 2


def test_poses_of_a_turning_head_stay_in_front_of_the_camera_and_agree_under_mild_blur(faces_dir):
    from metrics.benchmark import load_clip

    frames = load_clip(faces_dir / "lp_d0.mp4", 78, 256)  # the head turns and nods
    faces = face.reference_faces(frames, STEP, embeddings=False)
    distorted = measured(blurred(frames, sigma=0.7), faces)
    poses = distorted.reference_poses
    assert np.isfinite(poses).all() and np.abs(poses[:, 2]).max() < 45  # no mirrored, upside-down fit
    for kernel in (face.pose_yaw_error, face.pose_pitch_error, face.pose_roll_error):
        assert np.nanmax(kernel(distorted)) < 15


class TestExpressionAgreement:
    def test_itself_agrees_perfectly_and_the_differences_are_zero(self, clip_and_faces):
        frames, faces = clip_and_faces
        for kernel in (face.eye_agreement, face.mouth_agreement):
            outcome = kernel(measured(frames, faces))
            assert outcome.value == pytest.approx(1.0)
            np.testing.assert_allclose(outcome.per_frame, 0.0, atol=1e-12)

    def test_a_frozen_face_does_not_follow_the_mouth(self, clip_and_faces):
        frames, faces = clip_and_faces
        assert face.mouth_agreement(measured(np.repeat(frames[:1], len(frames), axis=0), faces)).value < 0.5

    def test_a_constant_series_has_no_correlation(self, clip_and_faces):
        frames, faces = clip_and_faces
        still = face.ReferenceFaces(*(np.repeat(a[:1], 20, axis=0) for a in (faces.boxes, faces.landmarks,
                                                                              faces.embeddings)), STEP)
        with pytest.raises(PoolingError, match="does not vary"):
            face.eye_agreement(measured(np.repeat(frames[:1], 20, axis=0), still))

    def test_a_mouth_of_another_time_correlates_less(self, clip_and_faces):
        frames, faces = clip_and_faces
        late = face.mouth_agreement(measured(np.roll(frames, 7, axis=0), faces))
        assert late.value < 0.9


class TestFaceMasks:
    def test_the_region_covers_the_landmarks_and_not_the_corners(self, clip_and_faces):
        frames, faces = clip_and_faces
        masks = face.face_masks(faces, frames.shape[1:3])
        assert masks.shape == (20, 256, 256) and masks.dtype == bool
        x, y = np.round(faces.landmarks[0]).astype(int).T
        assert masks[0, y, x].all()
        assert not masks[:, 0, 0].any() and not masks[:, -1, -1].any()
        assert 0.1 < masks.mean() < 0.7
