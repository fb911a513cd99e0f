"""VVC anchor: H.266/VVC by vvenc (libvvenc in the ``imageio-ffmpeg`` FFmpeg program), low delay B, raw Annex B.

The GFVC papers state their gains against VVC, and the JVET GFVC common test
conditions code their VVC anchor with VTM 22.2, ``encoder_lowdelay_vtm.cfg``
(the JVET GFVC software, ``VVC_anchor/encode_yuv420.sh``): intra period -1
(one intra picture, no refresh), GOP 8 of B pictures that reference past
pictures only, constant QP 37, 42, 47, 52, 8-bit internal coding of the
4:2:0 input. This anchor asks vvenc for the same structure:
``IntraPeriod=-1, DecodingRefreshType=0, GOPSize=8, PicReordering=0,
InternalBitDepth=8`` at a constant ``-qp`` without perceptual QP adaptation.

What differs from VTM (vvenc is a fast encoder of the same standard, and its
streams decode with any VVC decoder, VTM's included):

- vvenc's ``medium`` preset, not VTM's full search: vvenc trades coding
  efficiency for speed against VTM, by a margin not measured here (no VTM on
  these machines). Measured on lp_d18 (256x256, 125 frames, before ``-qpa 0``
  was set): ``medium`` took about 9 s, ``slower`` about 100 s for 11 % fewer
  bytes at QP 37 and 1 % at QP 52;
- vvenc's low-delay GOP is its own table (past references only, QP offsets by
  temporal layer); VTM's ``Frame1..Frame8`` lines (QP offsets, lambda
  factors, four references each) are not copied;
- no perceptual QP adaptation (``-qpa 0``, on by default in libvvenc), so the
  QP is constant, as VTM's (``MaxDeltaQP 0``); vvenc's ALF, LMCS and other
  tools follow its preset;
- no access unit delimiters (``AccessUnitDelimiter=0``; VTM writes none by
  default; they would cost about 1.4 kbit/s at 25 fps) and no SEI.

Input: RGB -> Y'CbCr 4:2:0 8-bit (BT.601, limited range; the conversion of
the other anchors, ``qa_platform.codec.anchor.to_yuv``), given to libvvenc as
the exact 10-bit picture (samples x 4), which vvenc at 8 bits internally
takes back unchanged. Decoding: PyAV's FFmpeg native VVC decoder (its output
matches VTM's decoder, bit for bit, on these streams: see the README); back
to RGB by ``qa_platform.codec.anchor.to_rgb`` (BT.601, limited range,
bilinear chroma, rounding to nearest). ``bit_depth=10`` codes at 10 bits
internally (vvenc's own default); its 10-bit pictures go to 8-bit RGB in the
same one rounding.

Single-threaded (``-threads 1``), so the stream does not depend on the core count.
"""
from importlib.metadata import version as package_version

from qa_platform.codec import AnchorCodec, CodecError, StreamFormat, register_codec

# libvvenc inside imageio-ffmpeg's FFmpeg program; test_vvc checks it against the encoder's own log.
LIBVVENC_VERSION = "1.15.0-dev"
BIT_DEPTHS = (8, 10)
# The low-delay B structure of the JVET GFVC VVC anchor (encoder_lowdelay_vtm.cfg), in vvenc's names.
LOW_DELAY_B = "IntraPeriod=-1:DecodingRefreshType=0:GOPSize=8:PicReordering=0:AccessUnitDelimiter=0"


def stream_format(bit_depth: int = 8) -> StreamFormat:
    """The libvvenc stream at ``bit_depth`` (8 or 10) bits internally; ``CodecError`` otherwise."""
    if bit_depth not in BIT_DEPTHS:
        raise CodecError(f"vvc: bit_depth is 8 or 10, got {bit_depth!r}")

    def options(qp: int) -> dict[str, str]:
        return {"preset": "medium", "qp": str(qp), "qpa": "0", "threads": "1",
                "vvenc-params": f"{LOW_DELAY_B}:InternalBitDepth={bit_depth}"}

    return StreamFormat(encoder="libvvenc", decoder="vvc", drop_units="", options=options,
                        qp_range=range(64), program_muxer="vvc", input_pix_fmt="yuv420p10le")


@register_codec
class Vvc(AnchorCodec):
    name = "vvc"
    version = f"2 (imageio-ffmpeg {package_version('imageio-ffmpeg')}, libvvenc {LIBVVENC_VERSION}, medium)"
    description = "H.266/VVC anchor (vvenc), low delay B as the JVET GFVC test conditions, constant QP"
    param_names = ("qp", "bit_depth")
    stream = stream_format(8)
    # The QPs of the JVET GFVC common test conditions' VVC anchor, lowest rate first.
    default_rate_points = ({"qp": 52}, {"qp": 47}, {"qp": 42}, {"qp": 37})

    def stream_for(self, params: dict) -> StreamFormat:
        """libvvenc at the HRC's ``bit_depth`` (8, the default, or 10); ``CodecError`` for another."""
        return stream_format(params.get("bit_depth", 8))
