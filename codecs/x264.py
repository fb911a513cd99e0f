"""x264 anchor: H.264/AVC, low delay (IPPP), constant QP, raw Annex B stream.

Rate points by QP. Measured at 256x256, 25 fps, 125 frames on five face clips
of ../shared/faces: QP 51 gives 5 to 11 kbit/s, QP 27 36 to 100 kbit/s.
"""
from qa_platform.codec import LIBRARY_VERSION, AnchorCodec, StreamFormat, register_codec


def _options(qp: int) -> dict[str, str]:
    return {"qp": str(qp), "preset": "medium", "tune": "zerolatency",
            "x264-params": "bframes=0:rc-lookahead=0:keyint=infinite:scenecut=0:sync-lookahead=0:threads=1"}


@register_codec
class X264(AnchorCodec):
    name = "x264"
    version = f"1 ({LIBRARY_VERSION})"
    description = "H.264/AVC anchor (libx264), low delay P, constant QP"
    # SEI (NAL unit type 6, ITU-T H.264 Table 7-1) dropped: it carries x264's option string.
    stream = StreamFormat(encoder="libx264", decoder="h264", drop_units="6", options=_options)
    default_rate_points = ({"qp": 51}, {"qp": 43}, {"qp": 35}, {"qp": 27})
