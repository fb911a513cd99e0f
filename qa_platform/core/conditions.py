"""Common test conditions: one registry entry per set of conditions, and the service that runs them.

``jvet-gfvc`` follows the JVET GFVC common test conditions as the public
JVET GFVC software v2 runs them (github.com/xyzysz/GFVC_Software_v2; read at
commit 80b7b52):

- test sequences: 256x256 RGB 4:4:4, 8-bit, 25 fps; 125 frames (CFVQA) or
  250 frames (VoxCeleb) (``VVC_anchor/RUN_Encode.py``, ``config_all/*.yaml``
  ``num_frames``);
- VVC anchor: VTM 22.2 ``encoder_lowdelay_vtm.cfg`` (low delay B, intra
  period -1) at QP 37, 42, 47, 52 (``RUN_Encode.py``). Here: the ``vvc``
  anchor (vvenc; its differences from VTM are in ``codecs/vvc.py``);
- generative codecs: one key frame per sequence (``gop_size`` equal to
  ``num_frames``) coded by VTM intra in 4:2:0 (``iframe_format: YUV420``,
  ``ref_codec: vtm``) at QP 22, 32, 42, 52 (``config_all/DAC_*_enc.yaml``
  ``qp_list``), the feature stream at one fixed setting (``quantization_factor: 64``).
  Here: ``key_codec=vvc``, ``key_period`` 0, the key QPs above, the codec's
  other parameters at its middle default rate point;
- hybrid codecs (HDAC): key frame at QP 22, a VVC base layer at QP 37, 42,
  47, 52 (``config_all/HDAC_*_enc.yaml`` ``base_layer_params``). Here: the
  ``hybrid-*`` codecs with ``aux_codec=vvc``; the ``predictive-*`` codecs
  (no JVET conditions of their own) are run the same way, their residual
  coded by ``vvc``;
- metrics: PSNR (Y), SSIM, LPIPS (VGG), DISTS (``evaluate/eval_utils/metrics.py``,
  ``MultiMetric``); bits counted from every bitstream file (``evaluate/bitrate.py``).
"""
from dataclasses import dataclass, field

from qa_platform.codec.base import Codec, Family
from qa_platform.codec.key_frames import KEY_FRAME_PARAMS
from qa_platform.codec.registry import load_codecs
from qa_platform.core.models import Hrc, Pvs, Source
from qa_platform.core.services import database_build


# The conventional layer of the hybrid-* and predictive-* codecs: its QP parameter and its codec parameter.
LAYER_PARAMS = {"aux_qp": "aux_codec", "res_qp": "res_codec"}


class ConditionsError(ValueError):
    """The conditions cannot run as asked; the message says what to change."""


@dataclass(frozen=True)
class TestConditions:
    """One set of common test conditions: what SRCs, codecs, rate points and metrics it prescribes."""

    name: str
    reference: str
    size: int
    fps: int
    frame_counts: tuple[int, ...]
    anchor: str
    anchor_qps: tuple[int, ...]
    key_codec: str
    key_qps: tuple[int, ...]
    layered_key_qp: int
    layer_qps: tuple[int, ...]
    metrics: tuple[str, ...]
    # Metrics reported beside those the conditions name.
    extra_metrics: tuple[str, ...] = field(default=())

    def check_source(self, source: Source) -> str:
        """Why ``source`` is outside the conditions ("" when it is within)."""
        if source.size != self.size or source.fps_num != self.fps * source.fps_den:
            return (f"{source.name} is {source.size}x{source.size} at {source.fps_num}/{source.fps_den} fps; "
                    f"{self.name} takes {self.size}x{self.size} at {self.fps} fps")
        if source.frame_count not in self.frame_counts:
            counts = " or ".join(map(str, self.frame_counts))
            return (f"{source.name} has {source.frame_count} frames; {self.name} codes {counts} "
                    f"(ingest with --frames {self.frame_counts[0]})")
        return ""

    def rate_points(self, codec: type[Codec]) -> list[dict]:
        """The rate points of ``codec`` under these conditions, lowest rate first (see the module docstring)."""
        if codec.name == self.anchor:
            return [{"qp": qp} for qp in sorted(self.anchor_qps, reverse=True)]
        if codec.family != Family.GENERATIVE or "key_qp" not in codec.param_names:
            return []
        defaults = list(codec.default_rate_points)
        middle = {key: value for key, value in (defaults[len(defaults) // 2] if defaults else {}).items()
                  if key not in KEY_FRAME_PARAMS}
        key = {"key_codec": self.key_codec}
        for layer_qp, layer_codec in LAYER_PARAMS.items():
            if layer_qp in codec.param_names:
                return [{**middle, **key, "key_qp": self.layered_key_qp, layer_codec: self.anchor, layer_qp: qp}
                        for qp in sorted(self.layer_qps, reverse=True)]
        return [{**middle, **key, "key_qp": qp} for qp in sorted(self.key_qps, reverse=True)]

    def covers(self, codec: str, params: dict) -> bool:
        """Whether an HRC (codec name, parameters) is at one of these conditions' rate points.

        The anchor at one of its QPs; or a generative HRC with one key frame
        coded by ``key_codec`` at one of ``key_qps``; or one at ``layered_key_qp``
        whose conventional layer (``aux_qp``/``res_qp``) is the anchor at one of
        ``layer_qps``. Generative codecs' other parameters are free: each setting is its own curve.
        """
        if codec == self.anchor:
            return params == {"qp": params.get("qp")} and params["qp"] in self.anchor_qps
        if params.get("key_codec") != self.key_codec or {"key_period", "key_threshold_db"} & set(params):
            return False
        for layer_qp, layer_codec in LAYER_PARAMS.items():
            if layer_qp in params:
                return (params["key_qp"] == self.layered_key_qp and params[layer_qp] in self.layer_qps
                        and params.get(layer_codec) == self.anchor)
        return params.get("key_qp") in self.key_qps

    @property
    def all_metrics(self) -> tuple[str, ...]:
        return (*self.metrics, *self.extra_metrics)


JVET_GFVC = TestConditions(
    name="jvet-gfvc",
    reference="JVET GFVC common test conditions, as run by the JVET GFVC software v2 "
              "(github.com/xyzysz/GFVC_Software_v2: VVC_anchor/RUN_Encode.py, config_all/, evaluate/)",
    size=256, fps=25, frame_counts=(125, 250),
    anchor="vvc", anchor_qps=(37, 42, 47, 52),
    key_codec="vvc", key_qps=(22, 32, 42, 52),
    layered_key_qp=22, layer_qps=(37, 42, 47, 52),
    metrics=("psnr_y", "ssim", "lpips_vgg", "dists"),
    extra_metrics=("ms_ssim", "vmaf", "xpsnr_y", "face_lpips", "aed", "akd"),
)

CONDITIONS = {conditions.name: conditions for conditions in (JVET_GFVC,)}


def get_conditions(name: str) -> TestConditions:
    """The conditions called ``name``; ``ConditionsError`` naming the known ones otherwise."""
    if name not in CONDITIONS:
        raise ConditionsError(f"no test conditions named {name!r}; known: {', '.join(CONDITIONS)}")
    return CONDITIONS[name]


def conditions_codecs(conditions: TestConditions, names: list[str] | None = None) -> list[type[Codec]]:
    """The codecs to run: the anchor, then ``names`` (default: every loaded generative codec that runs here).

    Raises ``ConditionsError`` for an unknown name, a codec the conditions
    have no rate points for, or one that cannot run here (with the reason).
    """
    loaded = load_codecs()
    if names is None:
        names = [name for name, cls in sorted(loaded.items())
                 if conditions.rate_points(cls) and name != conditions.anchor and not cls().unavailable_reason()]
    chosen = [conditions.anchor, *(name for name in names if name != conditions.anchor)]
    unknown = [name for name in chosen if name not in loaded]
    if unknown:
        raise ConditionsError(f"unknown codec(s) {', '.join(unknown)}; loaded: {', '.join(sorted(loaded))}")
    for name in chosen:
        if not conditions.rate_points(loaded[name]):
            raise ConditionsError(f"{conditions.name} has no rate points for {name}: it codes the anchor "
                                  f"{conditions.anchor} and generative codecs with key frames")
        reason = loaded[name]().unavailable_reason()
        if reason:
            raise ConditionsError(f"{name} cannot run here: {reason}")
    return [loaded[name] for name in chosen]


def conditions_sources(conditions: TestConditions, names: list[str] | None = None) -> list[Source]:
    """The SRCs within the conditions (``names``: those only); ``ConditionsError`` listing the others when asked
    for by name, or when none is within."""
    sources = list(Source.objects.order_by("name") if names is None else Source.objects.filter(name__in=names))
    missing = sorted(set(names or []) - {source.name for source in sources})
    if missing:
        raise ConditionsError(f"no SRC named {', '.join(missing)}")
    outside = [reason for source in sources if (reason := conditions.check_source(source))]
    if names is not None and outside:
        raise ConditionsError("; ".join(outside))
    within = [source for source in sources if not conditions.check_source(source)]
    if not within:
        raise ConditionsError(f"no SRC is within {conditions.name}: " + ("; ".join(outside) or "no SRC ingested"))
    return within


def conditions_build(*, conditions: TestConditions, codec_names: list[str] | None = None,
                     source_names: list[str] | None = None) -> list[Pvs]:
    """Queue every PVS of the conditions (SRCs x codecs x their rate points); done ones are kept.

    Returns the PVSs, as ``database_build`` does. Raises ``ConditionsError``
    (see :func:`conditions_codecs`, :func:`conditions_sources`).
    """
    codecs = conditions_codecs(conditions, codec_names)
    sources = conditions_sources(conditions, source_names)
    return database_build(codec_names=[codec.name for codec in codecs], sources=sources,
                          rate_points={codec.name: conditions.rate_points(codec) for codec in codecs})


def conditions_hrcs(conditions: TestConditions) -> list[Hrc]:
    """The HRCs that exist at the conditions' rate points (:meth:`TestConditions.covers`), from the stored
    HRCs alone (no codec plugin is loaded)."""
    return [hrc for hrc in Hrc.objects.order_by("codec", "pk") if conditions.covers(hrc.codec, hrc.params)]
