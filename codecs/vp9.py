"""VP9 anchor: libvpx-vp9 real-time, low delay, constant quantiser, length-prefixed frames.

libvpx in its real-time mode (``deadline=realtime``, ``cpu-used=8``), no
look-ahead (``lag-in-frames=0``) and so no hidden alternate reference frames
(``auto-alt-ref=0``): every packet is one shown frame. One key frame, a fixed
quantiser (``qmin = qmax = crf = qp``, ``aq-mode=0``), one thread, no tiles.
Framing (qa_platform.codec.anchor): each frame after its ULEB128 size, 1 byte
below 128 bytes, 2 bytes below 16 kB: 0.2 to 0.4 kbit/s at 25 fps (IVF: 2.4).

Rate points by QP (0..63, libvpx's quantiser scale). Measured at 256x256, 25 fps,
125 frames on five face clips of ../shared/faces (fomm_demo_00, fomm_demo_04,
lp_d11, lp_d12, lp_d18, prepared by qa_platform.core.ingest.prepare_clip): QP 63 gives
5.4 to 14.6 kbit/s (RGB PSNR 24.4 to 26.4 dB), QP 39 17.1 to 80.3 kbit/s.
"""
from qa_platform.codec import (
    LIBRARY_VERSION,
    AnchorCodec,
    Framing,
    StreamFormat,
    register_codec,
)

# libvpx's quantiser scale (VP9 maps it to a 0..255 quantiser index).
QP_RANGE = range(64)
# Key frame interval: as good as infinite (libvpx takes an unsigned int).
GOP = 2**31 - 1


def _options(qp: int) -> dict[str, str]:
    # libvpx real-time mode without look-ahead or hidden alternate reference
    # frames; qmin = qmax (with crf, the constant-quality mode) fixes the
    # quantiser; key frame distance at least and at most GOP (libvpx
    # kf_min_dist = kf_max_dist): one key frame.
    return {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0", "auto-alt-ref": "0",
            "crf": str(qp), "qmin": str(qp), "qmax": str(qp), "aq-mode": "0", "g": str(GOP),
            "keyint_min": str(GOP), "threads": "1", "row-mt": "0", "tile-columns": "0"}


@register_codec
class Vp9(AnchorCodec):
    name = "vp9"
    version = f"1 ({LIBRARY_VERSION})"
    description = "VP9 anchor (libvpx-vp9 real-time), low delay, constant quantiser"
    # libvpx writes no metadata: nothing to drop.
    stream = StreamFormat(encoder="libvpx-vp9", decoder="vp9", drop_units="", options=_options,
                          qp_range=QP_RANGE, framing=Framing.LEB128)
    default_rate_points = ({"qp": 63}, {"qp": 55}, {"qp": 47}, {"qp": 39})
