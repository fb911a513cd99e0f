"""Frame pictures of a PVS: frames, distortion maps and the landmarks overlay."""
import io
from fractions import Fraction

import numpy as np
import pytest
from django.urls import reverse
from PIL import Image

from conftest import synthetic_frames
from metrics import pictures
from metrics.tests.factories import make_pvs


def _image(response) -> np.ndarray:
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    return np.asarray(Image.open(io.BytesIO(response.content)))


@pytest.fixture
def blurred_pvs(db, data_dir):
    """A SRC of 4 synthetic 48x48 frames and a PVS whose right half is flattened."""
    reference = synthetic_frames(t=4, size=48)
    distorted = reference.copy()
    distorted[:, :, 24:] = 128
    return make_pvs(data_dir, reference, distorted, Fraction(25))


class TestMaps:
    def test_identical_frames_give_dark_maps(self):
        frame = synthetic_frames(t=1, size=32)[0]
        for kind in ("abs_error", "ssim"):
            assert pictures.MAPS[kind](frame, frame).max() <= 5  # magma's darkest colour

    def test_error_is_bright_where_the_frames_differ(self, client, blurred_pvs):
        url = reverse("metrics:pvs_picture", args=[blurred_pvs.pk, 2, "abs_error"])
        image = _image(client.get(url)).astype(int).sum(axis=2)
        assert image[:, 30:].mean() > 3 * image[:, :18].mean()

    def test_frames_are_served_at_native_size(self, client, blurred_pvs):
        for kind in ("reference", "distorted", "ssim"):
            assert _image(client.get(reverse("metrics:pvs_picture", args=[blurred_pvs.pk, 3, kind]))).shape == (48, 48, 3)

    def test_lpips_map_without_weights_says_what_to_run(self, client, blurred_pvs):
        response = client.get(reverse("metrics:pvs_picture", args=[blurred_pvs.pk, 0, "lpips"]))
        assert response.status_code == 409 and b"fetch_weights" in response.content

    @pytest.mark.parametrize(("index", "kind"), [(4, "reference"), (0, "bogus")])
    def test_unknown_frame_or_kind_is_not_found(self, client, blurred_pvs, index, kind):
        assert client.get(reverse("metrics:pvs_picture", args=[blurred_pvs.pk, index, kind])).status_code == 404


def test_landmarks_overlay_marks_68_points_in_two_colours(face_clip, face_clip_faces):
    frames, _ = face_clip
    shifted = np.roll(frames[0], 8, axis=1)  # the PVS's landmarks move 8 px right of the SRC's
    overlay = pictures.landmarks_overlay(shifted, face_clip_faces.landmarks[0], face_clip_faces.boxes[0])
    yellow = np.all(overlay == (255, 215, 0), axis=2)
    red = np.all(overlay == (240, 60, 60), axis=2)
    assert overlay.shape == frames[0].shape and yellow.sum() > 68 and red.sum() > 68
    assert np.argwhere(red)[:, 1].mean() > np.argwhere(yellow)[:, 1].mean() + 4


def test_pvs_page_has_the_pictures(client, blurred_pvs):
    page = client.get(reverse("metrics:pvs", args=[blurred_pvs.pk])).content.decode()
    assert 'id="picture-third"' in page and 'value="landmarks"' in page and 'value="face_region"' in page


def test_face_region_overlay_dims_only_outside_the_face(face_clip, face_clip_faces):
    from metrics.kernels.face import face_masks

    frame = face_clip[0][0]
    mask = face_masks(face_clip_faces, frame.shape[:2])[0]
    shown = pictures.face_region_overlay(frame, mask)
    np.testing.assert_array_equal(shown[mask], frame[mask])
    np.testing.assert_array_equal(shown[~mask], frame[~mask] // 3)
