"""VP9 anchor: libvpx-vp9 real-time, low delay, constant quantiser, length-prefixed frames.

libvpx in its real-time mode (``deadline=realtime``, ``cpu-used=8``), no
look-ahead (``lag-in-frames=0``) and so no hidden alternate reference frames
(``auto-alt-ref=0``): every packet is one shown frame. One key frame, a fixed
quantiser (``qmin = qmax = crf = qp``, ``aq-mode=0``), one thread, no tiles.
Framing (qa_platform.pyav_codec): each frame after its ULEB128 size, 1 byte
below 128 bytes, 2 bytes below 16 kB: 0.2 to 0.4 kbit/s at 25 fps (IVF: 2.4).

Rate points by QP (0..63, libvpx's quantiser scale). Measured at 256x256, 25 fps,
125 frames on five face clips of ../shared/faces (fomm_demo_00, fomm_demo_04,
lp_d11, lp_d12, lp_d18, prepared by qa_platform.ingest.prepare_clip): QP 63 gives
5.4 to 14.6 kbit/s (RGB PSNR 24.4 to 26.4 dB), QP 39 17.1 to 80.3 kbit/s.
"""
from qa_platform.codec_api import register_codec
from qa_platform.pyav_codec import LIBRARY_VERSION, AnchorCodec


@register_codec
class Vp9(AnchorCodec):
    name = "vp9"
    version = f"1 ({LIBRARY_VERSION})"
    description = "VP9 anchor (libvpx-vp9 real-time), low delay, constant quantiser"
    encoder = "libvpx-vp9"
    default_rate_points = ({"qp": 63}, {"qp": 55}, {"qp": 47}, {"qp": 39})
