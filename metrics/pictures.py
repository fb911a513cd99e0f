"""Pictures of one PVS frame: the frames, distortion maps, landmarks. Django-free.

Every function takes uint8 RGB frames (H, W, 3) of one PVS and its SRC at the
same index and returns PNG bytes. Maps are coloured with matplotlib's
``magma`` (dark = no error, bright = large error) at native size.
"""
import io

import numpy as np
import torch
from matplotlib import colormaps
from PIL import Image, ImageDraw
from skimage.metrics import structural_similarity

from metrics.weights import require_weights
from qa_platform.codec import faces as dlib_faces

MAP_KINDS = ("abs_error", "ssim", "lpips")


def png(image: np.ndarray) -> bytes:
    """uint8 (H, W, 3) RGB → PNG bytes."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def _coloured(values: np.ndarray, high: float) -> np.ndarray:
    """float (H, W) in [0, high] → uint8 (H, W, 3) magma."""
    return (colormaps["magma"](np.clip(values / high, 0.0, 1.0))[..., :3] * 255).astype(np.uint8)


def abs_error_map(distorted: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Mean absolute error over R, G, B per pixel, 0..255 → colour (bright at >= 64)."""
    error = np.abs(distorted.astype(np.float32) - reference.astype(np.float32)).mean(axis=2)
    return _coloured(error, 64.0)


def ssim_map(distorted: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """1 - SSIM per pixel (Wang et al. 2004: Gaussian window sigma 1.5, K1 0.01,
    K2 0.03, scikit-image), mean over R, G, B → colour (bright at 1 - SSIM >= 0.5)."""
    _, full = structural_similarity(
        reference, distorted, channel_axis=2, data_range=255, gaussian_weights=True, sigma=1.5,
        use_sample_covariance=False, full=True,
    )
    return _coloured(1.0 - full.mean(axis=2), 0.5)


def lpips_map(distorted: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """LPIPS (AlexNet, v0.1) spatial map (Zhang et al. 2018, ``spatial=True``) →
    colour (bright at >= 0.5). Raises ``WeightsMissingError`` without AlexNet."""
    import lpips

    require_weights(("alexnet",))
    model = lpips.LPIPS(net="alex", version="0.1", spatial=True, verbose=False).eval()
    with torch.no_grad():
        spatial = model(_lpips_input(distorted), _lpips_input(reference))[0, 0].numpy()
    return _coloured(spatial, 0.5)


def _lpips_input(frame: np.ndarray) -> torch.Tensor:
    """uint8 (H, W, 3) → float (1, 3, H, W) in [-1, 1], as lpips expects."""
    return torch.from_numpy(frame).permute(2, 0, 1)[None].float() / 127.5 - 1.0


MAPS = {"abs_error": abs_error_map, "ssim": ssim_map, "lpips": lpips_map}


def landmarks_overlay(distorted: np.ndarray, reference_landmarks: np.ndarray, box) -> np.ndarray:
    """The distorted frame with the reference's 68 landmarks (yellow) and the
    distorted frame's own, found in the same box (red): uint8 (H, W, 3)."""
    measured = dlib_faces.landmarks(distorted, box)
    image = Image.fromarray(distorted)
    draw = ImageDraw.Draw(image)
    for points, colour in ((reference_landmarks, (255, 215, 0)), (measured, (240, 60, 60))):
        for x, y in points:
            draw.ellipse((x - 1.5, y - 1.5, x + 1.5, y + 1.5), fill=colour)
    return np.asarray(image)


def face_region_overlay(distorted: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The distorted frame with everything outside the face region (bool (H, W),
    ``metrics.kernels.face.face_masks``) dimmed to a third: what the face_*
    metrics see. uint8 (H, W, 3)."""
    shown = distorted.copy()
    shown[~mask] //= 3
    return shown
