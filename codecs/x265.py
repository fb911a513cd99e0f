"""x265 anchor: H.265/HEVC, low delay (IPPP), constant QP, raw Annex B stream.

Rate points by QP. Measured at 256x256, 25 fps, 125 frames on five face clips
of ../shared/faces: QP 51 gives 5.7 to 7.2 kbit/s, QP 27 32 to 93 kbit/s.
"""
from qa_platform.codec import LIBRARY_VERSION, AnchorCodec, StreamFormat, register_codec


def _options(qp: int) -> dict[str, str]:
    return {"preset": "medium", "tune": "zerolatency",
            "x265-params": f"qp={qp}:bframes=0:rc-lookahead=0:keyint=-1:scenecut=0:frame-threads=1:log-level=error"}


@register_codec
class X265(AnchorCodec):
    name = "x265"
    version = f"1 ({LIBRARY_VERSION})"
    description = "H.265/HEVC anchor (libx265), low delay P, constant QP"
    # Prefix and suffix SEI (NAL unit types 39, 40, ITU-T H.265 Table 7-1) dropped: they carry x265's options.
    stream = StreamFormat(encoder="libx265", decoder="hevc", drop_units="39|40", options=_options)
    default_rate_points = ({"qp": 51}, {"qp": 43}, {"qp": 35}, {"qp": 27})
