"""The metric registry: the one place that lists which metrics exist. Django-free.

Each entry is a ``MetricSpec`` declaring what a metric measures, in which unit
and direction, where its formula comes from, what weights it needs and which
kernel computes it (a dotted path, imported only when the metric is computed,
so that reading the registry does not import torch). Entries are listed once,
in ``_SPECS``, in the order tables show them; a name registered twice is an
error (pyiqa's registry, with CompressAI's drifting names as the counter-example).

Kernel contracts, by ``kind``:

- ``full-reference``: ``kernel(distorted, reference)`` with float32 tensors
  (N, 3, H, W), RGB in [0, 1], same shape and device; returns a tensor (N,),
  one value per frame (``metrics.kernels.full_reference``).
- ``face``: ``kernel(distorted, faces)`` with uint8 frames (T, H, W, 3) RGB and
  the SRC's ``ReferenceFaces``; returns float64 (T,), NaN on frames the metric
  skips (``metrics.kernels.face``).
"""
import difflib
import importlib
import importlib.metadata
from dataclasses import dataclass

FULL_REFERENCE = "full-reference"
FACE = "face"
KINDS = (FULL_REFERENCE, FACE)
DEVICES = ("cpu", "gpu")

# AED's embedding costs ~0.1 s per frame on a CPU core: it is computed on every
# AED_FRAME_STEP-th frame only (frames 0, 5, 10, ...: 5 per second at 25 fps).
AED_FRAME_STEP = 5


class UnknownMetricError(LookupError):
    """No metric is registered under that name."""


class DuplicateMetricError(ValueError):
    """A metric name was registered twice."""


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


class MetricRegistry:
    """Metric specs by name, in registration order."""

    def __init__(self):
        self._specs: dict[str, MetricSpec] = {}

    def register(self, spec: MetricSpec) -> MetricSpec:
        """Add ``spec``; raise ``DuplicateMetricError`` if its name is taken."""
        if spec.name in self._specs:
            raise DuplicateMetricError(f"metric {spec.name!r} is already registered")
        self._specs[spec.name] = spec
        return spec

    def all(self) -> dict[str, MetricSpec]:
        return dict(self._specs)

    def get(self, name: str) -> MetricSpec:
        """The spec named ``name``; ``UnknownMetricError`` with suggestions otherwise."""
        try:
            return self._specs[name]
        except KeyError:
            close = difflib.get_close_matches(name, self._specs, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise UnknownMetricError(
                f"unknown metric {name!r}{hint} (known: {', '.join(self._specs)})"
            ) from None


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "absent"


_PIQ = f"piq-{_version('piq')}"
_DLIB = f"dlib-{_version('dlib-bin')}"
_FR = "metrics.kernels.full_reference"
_FACE = "metrics.kernels.face"

_SPECS = (
    MetricSpec(
        name="psnr_rgb", label="PSNR (RGB)", unit="dB", value_range=(0.0, 80.0),
        higher_is_better=True, kind=FULL_REFERENCE, device="cpu", version=f"1/{_PIQ}",
        source="PSNR = 10 log10(1 / MSE) for samples in [0, 1], MSE over the R, G and B samples "
               "of the frame; piq.psnr, whose MSE + 1e-8 caps identical frames at 80 dB",
        kernel_path=f"{_FR}:psnr_rgb",
    ),
    MetricSpec(
        name="psnr_y", label="PSNR (Y)", unit="dB", value_range=(0.0, 80.0),
        higher_is_better=True, kind=FULL_REFERENCE, device="cpu", version=f"1/{_PIQ}",
        source="PSNR of full-range luma Y = 0.299 R + 0.587 G + 0.114 B (ITU-R BT.601 weights); "
               "piq.psnr(convert_to_greyscale=True), capped at 80 dB",
        kernel_path=f"{_FR}:psnr_y",
    ),
    MetricSpec(
        name="ssim", label="SSIM", unit="", value_range=(0.0, 1.0),
        higher_is_better=True, kind=FULL_REFERENCE, device="cpu", version=f"1/{_PIQ}",
        source="Wang et al., IEEE TIP 13(4), 2004: 11x11 Gaussian window, sigma 1.5, "
               "K1 0.01, K2 0.03, valid region, the authors' downsampling by round(min(H, W) / 256); "
               "mean of the R, G, B SSIMs (piq.ssim)",
        kernel_path=f"{_FR}:ssim",
    ),
    MetricSpec(
        name="ms_ssim", label="MS-SSIM", unit="", value_range=(0.0, 1.0),
        higher_is_better=True, kind=FULL_REFERENCE, device="cpu", version=f"1/{_PIQ}",
        source="Wang, Simoncelli, Bovik, Asilomar 2003: 5 scales, weights 0.0448, 0.2856, "
               "0.3001, 0.2363, 0.1333, 2x2 average pooling; frames >= 161x161; mean over R, G, B "
               "(piq.multi_scale_ssim)",
        kernel_path=f"{_FR}:ms_ssim",
    ),
    MetricSpec(
        name="lpips_alex", label="LPIPS (AlexNet)", unit="", value_range=(0.0, 1.0),
        higher_is_better=False, kind=FULL_REFERENCE, device="gpu",
        version=f"1/lpips-{_version('lpips')}/alex-v0.1",
        source="Zhang et al., CVPR 2018, eq. (1): AlexNet features, linear layers v0.1 (shipped in "
               "the lpips package); the official lpips package. Practical range [0, 1]",
        kernel_path=f"{_FR}:lpips_alex", weights=("alexnet",),
    ),
    MetricSpec(
        name="dists", label="DISTS", unit="", value_range=(0.0, 1.0),
        higher_is_better=False, kind=FULL_REFERENCE, device="gpu", version=f"1/{_PIQ}",
        source="Ding et al., IEEE TPAMI 44(5), 2022: VGG16 structure and texture "
               "similarity with learned alpha, beta; piq.DISTS (frames above 256 px resized to 256)",
        kernel_path=f"{_FR}:dists", weights=("vgg16", "dists"),
    ),
    MetricSpec(
        name="aed", label="AED (identity distance)", unit="", value_range=(0.0, 1.0),
        higher_is_better=False, kind=FACE, device="cpu", version=f"1/{_DLIB}/step-{AED_FRAME_STEP}",
        source="Average Euclidean distance between identity embeddings of the reference and the "
               "distorted face (Siarohin et al., NeurIPS 2019, sec. 4, as used by GFVC evaluations), "
               "with dlib's 128-D ResNet descriptor (same person below 0.6); face box taken from "
               "the reference frame",
        kernel_path=f"{_FACE}:aed", frame_step=AED_FRAME_STEP,
    ),
    MetricSpec(
        name="akd", label="AKD (landmark distance / IOD)", unit="", value_range=(0.0, 0.5),
        higher_is_better=False, kind=FACE, device="cpu", version=f"1/{_DLIB}",
        source="Average keypoint distance (Siarohin et al., NeurIPS 2019, sec. 4): mean distance "
               "between the 68 iBUG landmarks (dlib) of the reference and the distorted face, "
               "divided by the reference's inter-ocular distance (300-W normalisation); face box "
               "taken from the reference frame. Practical range [0, 0.5]",
        kernel_path=f"{_FACE}:akd",
    ),
)

REGISTRY = MetricRegistry()
for _spec in _SPECS:
    REGISTRY.register(_spec)


def all_metrics() -> dict[str, MetricSpec]:
    """Every registered metric, by name, in table order."""
    return REGISTRY.all()


def get_metric(name: str) -> MetricSpec:
    """The metric named ``name``; raises ``UnknownMetricError`` (with close names) otherwise."""
    return REGISTRY.get(name)
