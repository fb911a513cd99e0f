"""SVT-AV1 anchor: AV1, low delay, constant QP, temporal units without temporal delimiters.

SVT-AV1 in its real-time mode (``rtc=1``, preset 8) with the low-delay
prediction structure (``pred-struct=1``), no look-ahead, one key frame and
constant QP (``rc=0``, ``aq-mode=0``); the QP is that of the top temporal
layer, lower layers get SVT-AV1's own offsets (as VTM's low-delay
configuration offsets its QP per GOP position). One level of parallelism
(``lp=1``); SVT-AV1 4.1.0 gave the same bytes with lp 1, 2, 6 and its
default, and with 1 or 2 CPUs (qa_platform/tests/test_pyav_codec.py).
Framing (qa_platform.pyav_codec): each temporal unit after its ULEB128 size,
1 byte below 128 bytes, 2 bytes below 16 kB: 0.2 to 0.4 kbit/s at 25 fps.

Rate points by QP (1..63, SVT-AV1's quantiser scale). Measured at 256x256, 25 fps,
125 frames on five face clips of ../shared/faces (fomm_demo_00, fomm_demo_04,
lp_d11, lp_d12, lp_d18, prepared by qa_platform.ingest.prepare_clip): QP 63 gives
6.3 to 18.0 kbit/s (RGB PSNR 29.2 to 32.5 dB), QP 39 24.7 to 117 kbit/s (37.5 to
39.8 dB). SVT-AV1 cannot go below QP 63's rate, above x265's QP 51 (5.7 to 9.9
kbit/s); steps of 8 give a rate span like x265's, for BD-rates over a wide overlap.
"""
import os

from qa_platform.codec_api import register_codec
from qa_platform.pyav_codec import LIBRARY_VERSION, AnchorCodec

# SVT-AV1 prints its configuration banner at "info" level (3) on every encode; warnings (2) and
# errors still show. An SVT_LOG already set wins.
os.environ.setdefault("SVT_LOG", "2")


@register_codec
class SvtAv1(AnchorCodec):
    name = "svtav1"
    version = f"1 ({LIBRARY_VERSION})"
    description = "AV1 anchor (SVT-AV1 real-time mode), low delay, constant QP"
    encoder = "libsvtav1"
    default_rate_points = ({"qp": 63}, {"qp": 55}, {"qp": 47}, {"qp": 39})
