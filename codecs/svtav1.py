"""SVT-AV1 anchor: AV1, low delay, constant QP, temporal units without temporal delimiters.

SVT-AV1 in its real-time mode (``rtc=1``, preset 8) with the low-delay
prediction structure (``pred-struct=1``), no look-ahead, one key frame and
constant QP (``rc=0``, ``aq-mode=0``); the QP is that of the top temporal
layer, lower layers get SVT-AV1's own offsets (as VTM's low-delay
configuration offsets its QP per GOP position). One level of parallelism
(``lp=1``); SVT-AV1 4.1.0 gave the same bytes with lp 1, 2, 6 and its
default, and with 1 or 2 CPUs (qa_platform/codec/tests/test_pyav_codec.py).
Framing (qa_platform.codec.anchor): each temporal unit after its ULEB128 size,
1 byte below 128 bytes, 2 bytes below 16 kB: 0.2 to 0.4 kbit/s at 25 fps.

Rate points by QP (1..63, SVT-AV1's quantiser scale). Measured at 256x256, 25 fps,
125 frames on five face clips of ../shared/faces (fomm_demo_00, fomm_demo_04,
lp_d11, lp_d12, lp_d18, prepared by qa_platform.core.ingest.prepare_clip): QP 63 gives
6.3 to 18.0 kbit/s (RGB PSNR 29.2 to 32.5 dB), QP 39 24.7 to 117 kbit/s (37.5 to
39.8 dB). SVT-AV1 cannot go below QP 63's rate, above x265's QP 51 (5.7 to 9.9
kbit/s); steps of 8 give a rate span like x265's, for BD-rates over a wide overlap.
"""
from qa_platform.codec import (
    LIBRARY_VERSION,
    AnchorCodec,
    Framing,
    StreamFormat,
    register_codec,
)

# SVT-AV1's quantiser scale (AV1 maps it to a 0..255 quantiser index); it refuses 0.
QP_RANGE = range(1, 64)


def _options(qp: int) -> dict[str, str]:
    # SVT-AV1 Docs/Parameters.md: pred-struct 1 is low delay, rc 0 with aq-mode 0
    # is constant QP, keyint -1 one key frame, scd 0 no scene-change key frames,
    # lookahead 0 none; rtc 1 its real-time mode; lp 1 one level of parallelism.
    return {"preset": "8", "svtav1-params": (f"rtc=1:pred-struct=1:rc=0:aq-mode=0:qp={qp}:keyint=-1:scd=0"
                                             ":lookahead=0:lp=1")}


@register_codec
class SvtAv1(AnchorCodec):
    name = "svtav1"
    version = f"1 ({LIBRARY_VERSION})"
    description = "AV1 anchor (SVT-AV1 real-time mode), low delay, constant QP"
    # Temporal delimiter OBUs (type 2, AV1 spec Section 6.2.2) dropped: the length prefix marks the unit.
    stream = StreamFormat(encoder="libsvtav1", decoder="libdav1d", drop_units="2", options=_options,
                          qp_range=QP_RANGE, framing=Framing.LEB128,
                          # SVT-AV1 prints its configuration banner at "info" level (3) on every
                          # encode; warnings (2) and errors still show. An SVT_LOG already set wins.
                          environment={"SVT_LOG": "2"})
    default_rate_points = ({"qp": 63}, {"qp": 55}, {"qp": 47}, {"qp": 39})
