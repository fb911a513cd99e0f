import numpy as np
import pytest

from metrics.kernels import face
from metrics.tests.clips import blurred, shifted
from qa_platform.faces import NoFaceError

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


class TestAed:
    def test_a_clip_against_itself_is_zero_on_sampled_frames_only(self, clip_and_faces):
        frames, faces = clip_and_faces
        values = face.aed(frames, faces)
        assert values.shape == (20,)
        np.testing.assert_allclose(values[::STEP], 0.0, atol=1e-9)
        assert np.isnan(np.delete(values, np.s_[::STEP])).all()

    def test_a_blurred_clip_is_clearly_farther(self, clip_and_faces):
        frames, faces = clip_and_faces
        values = face.aed(blurred(frames, sigma=4), faces)
        assert np.nanmean(values) > 0.05

    def test_frame_count_mismatch_is_refused(self, clip_and_faces):
        frames, faces = clip_and_faces
        with pytest.raises(ValueError, match="19 frames, the reference faces 20"):
            face.aed(frames[:19], faces)


class TestAkd:
    def test_a_clip_against_itself_is_zero_on_every_frame(self, clip_and_faces):
        frames, faces = clip_and_faces
        np.testing.assert_allclose(face.akd(frames, faces), np.zeros(20), atol=1e-12)

    def test_a_face_shifted_by_4_pixels_moves_its_landmarks(self, clip_and_faces):
        frames, faces = clip_and_faces
        values = face.akd(shifted(frames, 4), faces)
        # 4 px over an inter-ocular distance of about 65 px is about 0.06.
        assert values.shape == (20,) and np.isfinite(values).all()
        assert 0.03 < values.mean() < 0.12

    def test_non_uint8_frames_are_refused(self, clip_and_faces):
        frames, faces = clip_and_faces
        with pytest.raises(ValueError, match="uint8"):
            face.akd(frames.astype(np.float32), faces)
