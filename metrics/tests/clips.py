"""Degraded copies of test clips."""
import cv2
import numpy as np


def shifted(frames: np.ndarray, pixels: int) -> np.ndarray:
    """Frames moved ``pixels`` to the right (edge columns repeated)."""
    moved = np.roll(frames, pixels, axis=2)
    moved[:, :, :pixels] = frames[:, :, :1]
    return moved


def noisy(frames: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    """Frames plus Gaussian noise of ``sigma`` code values, clipped to uint8."""
    noise = np.random.default_rng(seed).normal(0, sigma, frames.shape)
    return (frames + noise).round().clip(0, 255).astype(np.uint8)



def blurred(frames: np.ndarray, sigma: float) -> np.ndarray:
    """Frames blurred by a Gaussian of ``sigma`` pixels."""
    return np.stack([cv2.GaussianBlur(frame, (0, 0), sigma) for frame in frames])
