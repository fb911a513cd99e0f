"""What a metric is: ``MetricSpec``, the kinds of kernel and where they run. Django-free.

Kernel contracts, by ``kind``:

- ``full-reference``: ``kernel(distorted, reference)`` with float32 tensors
  (N, 3, H, W), RGB in [0, 1], same shape and device; returns a tensor (N,),
  one value per frame (``metrics.kernels.full_reference``). Frames come in
  batches, so such a kernel must not depend on neighbouring frames.
- ``clip``: ``kernel(distorted, reference, device)`` with whole uint8 clips
  (T, H, W, 3) RGB and the ``torch.device`` to use; returns float64 (T,), NaN
  on frames without a value. For metrics that look across frames (temporal
  measures, VMAF's motion feature).
- ``face``: ``kernel(distorted, faces)`` with uint8 frames (T, H, W, 3) RGB and
  the SRC's ``ReferenceFaces``; returns float64 (T,), NaN on frames the metric
  skips (``metrics.kernels.face``).
"""
import importlib
import importlib.metadata
from dataclasses import dataclass

FULL_REFERENCE = "full-reference"
CLIP = "clip"
FACE = "face"
KINDS = (FULL_REFERENCE, CLIP, FACE)
DEVICES = ("cpu", "gpu")


# AED's embedding costs ~0.1 s per frame on a CPU core: it is computed on every
# AED_FRAME_STEP-th frame only (frames 0, 5, 10, ...: 5 per second at 25 fps).
AED_FRAME_STEP = 5


@dataclass(frozen=True)
class MetricSpec:
    """What one metric is: its name, scale, direction, provenance and kernel.

    ``value_range`` is the (lo, hi) a chart shows: the metric's bounds where
    they are finite, else its practical range (said in ``source``). ``version``
    is stored with every result. ``weights`` names entries of
    ``metrics.weights.WEIGHTS``. ``frame_step`` > 1 means the metric is computed
    on every ``frame_step``-th frame only (NaN elsewhere). Raises ``ValueError``
    for an unknown kind or device, or an empty range.
    """

    name: str
    label: str
    unit: str
    value_range: tuple[float, float]
    higher_is_better: bool
    kind: str
    device: str
    version: str
    source: str
    kernel_path: str
    weights: tuple[str, ...] = ()
    frame_step: int = 1

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"{self.name}: kind must be one of {KINDS}, not {self.kind!r}")
        if self.device not in DEVICES:
            raise ValueError(f"{self.name}: device must be one of {DEVICES}, not {self.device!r}")
        low, high = self.value_range
        if not low < high:
            raise ValueError(f"{self.name}: value_range {self.value_range} is empty")
        if self.frame_step < 1:
            raise ValueError(f"{self.name}: frame_step must be >= 1, not {self.frame_step}")

    @property
    def pooling(self) -> str:
        """How per-frame values become the sequence value (stored with each result)."""
        return "mean" if self.frame_step == 1 else f"mean, every {self.frame_step}th frame"

    def load_kernel(self):
        """Import and return the kernel function named by ``kernel_path`` (``module:function``)."""
        module, _, function = self.kernel_path.partition(":")
        return getattr(importlib.import_module(module), function)




def package_version(distribution: str) -> str:
    """The installed version of ``distribution``, or ``absent``."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "absent"
