"""Run registered metrics over a whole clip. Django-free.

Full-reference metrics see the clip in batches of frames, each batch moved to
the device once and shared by every metric; clip metrics (temporal ones) and
face metrics see whole clips. A
metric that raises does not stop the others: its outcome is the exception
(``WeightsMissingError`` for missing weights), the others' outcomes are float64
per-frame arrays (T,).
"""
import numpy as np
import torch

from metrics.registry import MetricSpec

DEFAULT_BATCH_SIZE = 16

Outcome = np.ndarray | Exception


def default_device() -> torch.device:
    """CUDA when available, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def frames_to_tensor(frames: np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 (T, H, W, 3) RGB → float32 (T, 3, H, W) in [0, 1] on ``device``."""
    tensor = torch.from_numpy(np.ascontiguousarray(frames)).to(device)
    return tensor.permute(0, 3, 1, 2).float().div_(255.0)


def run_full_reference(
    specs: list[MetricSpec], distorted: np.ndarray, reference: np.ndarray, *,
    device: torch.device, batch_size: int = DEFAULT_BATCH_SIZE,
) -> dict[str, Outcome]:
    """Per-frame values of full-reference metrics on uint8 clips (T, H, W, 3).

    Returns one outcome per spec name: float64 (T,) or the exception the
    kernel raised (it is not called again on later batches).
    """
    kernels = {spec.name: spec.load_kernel() for spec in specs}
    parts: dict[str, list[np.ndarray]] = {name: [] for name in kernels}
    errors: dict[str, Exception] = {}
    with torch.no_grad():
        for start in range(0, len(distorted), batch_size):
            batch = slice(start, start + batch_size)
            pair = frames_to_tensor(distorted[batch], device), frames_to_tensor(reference[batch], device)
            for name, kernel in kernels.items():
                if name not in errors:
                    try:
                        parts[name].append(kernel(*pair).double().cpu().numpy())
                    except Exception as exc:  # one failing metric must not stop the others
                        errors[name] = exc
    return {name: errors[name] if name in errors else np.concatenate(parts[name]) for name in kernels}


def _run_each(specs: list[MetricSpec], *args) -> dict[str, Outcome]:
    outcomes: dict[str, Outcome] = {}
    for spec in specs:
        try:
            outcomes[spec.name] = np.asarray(spec.load_kernel()(*args), dtype=np.float64)
        except Exception as exc:  # one failing metric must not stop the others
            outcomes[spec.name] = exc
    return outcomes


def run_clip(specs: list[MetricSpec], distorted: np.ndarray, reference: np.ndarray, *,
             device: torch.device) -> dict[str, Outcome]:
    """Per-frame values of clip metrics on uint8 clips (T, H, W, 3); one
    outcome per spec name, as ``run_full_reference``."""
    return _run_each(specs, distorted, reference, device)


def run_face(specs: list[MetricSpec], distorted: np.ndarray, faces) -> dict[str, Outcome]:
    """Per-frame values of face metrics on a uint8 clip (T, H, W, 3) against the
    SRC's ``ReferenceFaces``; one outcome per spec name, as ``run_full_reference``."""
    return _run_each(specs, distorted, faces)
