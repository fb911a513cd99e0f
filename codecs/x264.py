"""x264 anchor: H.264/AVC, low delay (IPPP), constant QP, raw Annex B stream.

Rate points by QP. Measured at 256x256, 25 fps, 125 frames on five face clips
of ../shared/faces: QP 51 gives 5 to 11 kbit/s, QP 27 36 to 100 kbit/s.
"""
from qa_platform.codec_api import register_codec
from qa_platform.pyav_codec import LIBRARY_VERSION, AnchorCodec


@register_codec
class X264(AnchorCodec):
    name = "x264"
    version = f"1 ({LIBRARY_VERSION})"
    description = "H.264/AVC anchor (libx264), low delay P, constant QP"
    encoder = "libx264"
    default_rate_points = ({"qp": 51}, {"qp": 43}, {"qp": 35}, {"qp": 27})
