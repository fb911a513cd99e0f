"""What a metric is: ``MetricSpec``, the kinds of kernel and where they run. Django-free.

Kernel contracts, by ``kind``:

- ``full-reference``: ``kernel(distorted, reference)`` with float32 tensors
  (N, 3, H, W), RGB in [0, 1], same shape and device; returns a tensor (N,),
  one value per frame (``metrics.kernels.full_reference``). Frames come in
  batches, so such a kernel must not depend on neighbouring frames.
- ``face-region``: ``kernel(distorted, reference, mask)``, the same tensors
  and a float32 mask (N, 1, H, W) in {0, 1} of the reference's face region;
  returns a tensor (N,) (``metrics.kernels.face_region``).
- ``clip``: ``kernel(clips)`` with a ``metrics.kernels.clip.ClipPair`` (whole
  uint8 clips (T, H, W, 3) RGB, their YUV 4:2:0 planes, the torch device);
  returns float64 (T,), NaN on frames without a value. For metrics that look
  across frames (temporal measures, VMAF's motion feature) or work on YUV.
- ``face``: ``kernel(faces)`` with a ``metrics.kernels.face.DistortedFaces``
  (the PVS's faces measured once, and the SRC's ``ReferenceFaces``); returns
  float64 (T,), NaN on frames the metric skips.

A kernel returns per-frame values, which are pooled into the sequence value
(``metrics.pooling``), unless its spec has a ``fixed_pooling``: then it returns
a ``metrics.pooling.SequenceValue`` (the sequence value and the per-frame
values behind it), as a correlation over time does.
"""
import importlib
import importlib.metadata
from dataclasses import dataclass

FULL_REFERENCE = "full-reference"
FACE_REGION = "face-region"
CLIP = "clip"
FACE = "face"
KINDS = (FULL_REFERENCE, FACE_REGION, CLIP, FACE)
# Kinds that run on batches of frame tensors, in one loop over the clip.
BATCHED_KINDS = (FULL_REFERENCE, FACE_REGION)
# Kinds that need the SRC's reference faces.
FACE_KINDS = (FACE_REGION, FACE)
DEVICES = ("cpu", "gpu")


# AED's embedding costs ~0.1 s per frame on a CPU core: it is computed on every
# AED_FRAME_STEP-th frame only (frames 0, 5, 10, ...: 5 per second at 25 fps).
AED_FRAME_STEP = 5


class MetricUnavailableError(RuntimeError):
    """What a metric needs is not installed here (weight files, an external program or filter).

    The metric is recorded *unavailable* with this message as the reason,
    never computed otherwise (DESIGN.md, "Model weights").
    """


@dataclass(frozen=True)
class MetricSpec:
    """What one metric is: its name, scale, direction, provenance and kernel.

    ``value_range`` is the (lo, hi) a chart shows: the metric's bounds where
    they are finite, else its practical range (said in ``source``). ``version``
    is stored with every result. ``device`` is where it belongs: ``gpu``
    metrics run in the PVS job's ``gpu``-queue stage (on CUDA when the worker
    has it), ``cpu`` ones in the ``cpu`` stage. ``weights`` names entries of
    ``metrics.weights.WEIGHTS``. ``frame_step`` > 1 means the metric is
    computed on every ``frame_step``-th frame only (NaN elsewhere).
    ``fixed_pooling`` names how the kernel itself makes the sequence value (the
    pooling setting does not apply); ``frame_values`` says what the per-frame
    values are when they are not the metric itself. Raises ``ValueError`` for
    an unknown kind or device, or an empty range.
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
    fixed_pooling: str = ""
    frame_values: str = ""

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
    def decimals(self) -> int:
        """Decimals worth showing: 2 on wide scales (dB, pixels), 4 on unit-range ones."""
        low, high = self.value_range
        return 2 if high - low > 10 else 4

    @property
    def direction(self) -> str:
        """``↑ higher is better`` or ``↓ lower is better``."""
        return "↑ higher is better" if self.higher_is_better else "↓ lower is better"

    @property
    def axis_title(self) -> str:
        """The label with its unit, e.g. ``PSNR (RGB) (dB)``."""
        return f"{self.label} ({self.unit})" if self.unit else self.label

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
