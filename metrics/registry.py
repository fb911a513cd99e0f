"""The metric registry: the one place that lists which metrics exist. Django-free.

Each entry is a ``MetricSpec`` (``metrics.spec``) declaring what a metric
measures, in which unit and direction, where its formula comes from, what
weights it needs and which kernel computes it (a dotted path, imported only
when the metric is computed, so that reading the registry does not import
torch). The entries live in ``metrics.specs_full_reference`` and
``metrics.specs_face``, in the order tables show them; a name registered twice
is an error (pyiqa's registry, with CompressAI's drifting names as the
counter-example).
"""
import difflib

from metrics import specs_face, specs_full_reference
from metrics.spec import (  # noqa: F401 (re-exported: callers import the kinds from here)
    AED_FRAME_STEP,
    CLIP,
    DEVICES,
    FACE,
    FACE_REGION,
    FULL_REFERENCE,
    KINDS,
    MetricSpec,
)


class UnknownMetricError(LookupError):
    """No metric is registered under that name."""


class DuplicateMetricError(ValueError):
    """A metric name was registered twice."""


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


REGISTRY = MetricRegistry()
for _spec in specs_full_reference.SPECS + specs_face.SPECS:
    REGISTRY.register(_spec)


def all_metrics() -> dict[str, MetricSpec]:
    """Every registered metric, by name, in table order."""
    return REGISTRY.all()


# Too slow for a CPU core at 256x256 (FSIM and VIF tens of ms per frame, vmaf-torch a
# float port of VMAF meant for a GPU): the demo leaves them out (``demo_metric_names``).
SLOW_ON_CPU = ("fsim", "vif", "vmaf_torch")


def demo_metric_names() -> list[str]:
    """The metrics the demo computes: every registered one but ``SLOW_ON_CPU``, in table order."""
    return [name for name in REGISTRY.all() if name not in SLOW_ON_CPU]


def get_metric(name: str) -> MetricSpec:
    """The metric named ``name``; raises ``UnknownMetricError`` (with close names) otherwise."""
    return REGISTRY.get(name)
