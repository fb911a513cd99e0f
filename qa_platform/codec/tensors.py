"""Frames as torch tensors, and the device to compute on. Django-free."""
import logging

import numpy as np
import torch

logger = logging.getLogger(__name__)


def default_device(cpu_warning: str = "") -> torch.device:
    """CUDA when available, else the CPU; then ``cpu_warning`` (what runs there), if given, is logged as a warning."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    if cpu_warning:
        logger.warning("no CUDA device: %s on the CPU", cpu_warning)
    return torch.device("cpu")


def frames_to_tensor(frames: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """uint8 (T, H, W, 3) RGB -> float32 (T, 3, H, W) in [0, 1] on ``device``."""
    tensor = torch.from_numpy(np.ascontiguousarray(frames)).to(device)
    return tensor.permute(0, 3, 1, 2).float().div_(255.0)
