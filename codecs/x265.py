"""x265 anchor: H.265/HEVC, low delay (IPPP), constant QP, raw Annex B stream.

Rate points by QP. Measured at 256x256, 25 fps, 125 frames on five face clips
of ../shared/faces: QP 51 gives 5.7 to 7.2 kbit/s, QP 27 32 to 93 kbit/s.
"""
from qa_platform.codec_api import register_codec
from qa_platform.pyav_codec import LIBRARY_VERSION, AnchorCodec


@register_codec
class X265(AnchorCodec):
    name = "x265"
    version = f"1 ({LIBRARY_VERSION})"
    description = "H.265/HEVC anchor (libx265), low delay P, constant QP"
    encoder = "libx265"
    default_rate_points = ({"qp": 51}, {"qp": 43}, {"qp": 35}, {"qp": 27})
