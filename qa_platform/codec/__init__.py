"""The codec package: everything a codec plugin may import, and nothing Django. Django-free.

A plugin in ``codecs/`` (or a lab's own plugin folder) imports FaceQA from
here alone, ``from qa_platform.codec import Codec, register_codec, ...``; the
modules behind these names are the package's business and may move. A test
(``qa_platform/codec/tests/test_plugin_imports.py``) holds every plugin to it.

Names load lazily (PEP 562), so importing the package costs nothing and a
plugin that needs no face model or network never imports dlib or torch.

- codec contract (``base``): :class:`Codec`, :class:`SourceClip`,
  :class:`Family`, :class:`Device`, :class:`CodecError`, :func:`register_codec`,
  and the HRC parameter helpers;
- conventional anchors (``anchor``): :class:`AnchorCodec` and the
  :class:`StreamFormat` each anchor plugin declares its encoder options in;
- bitstream format (``bitstream``), feature-stream coding (``feature_coding``),
  key frames (``key_frames``), checkpoints (``checkpoints``);
- frames and faces: ``video`` (video I/O), ``faces`` (dlib), ``tensors`` (torch);
- learned codecs: ``fomm`` (the FOMM networks and their checkpoints);
- external programs: :class:`ManifestCodec` (``manifest``), the FFmpeg program (``ffmpeg``).
"""
import importlib

_EXPORTS = {
    "base": ("CONTROLS", "TARGET_KBPS", "Codec", "CodecError", "Device", "Family", "SourceClip", "bitrate_kbps",
             "bitstream_bytes", "params_key", "register_codec", "registered_codecs", "split_controls"),
    "anchor": ("LIBRARY_VERSION", "AnchorCodec", "Framing", "StreamFormat", "check_decoded", "check_frames",
               "check_qp", "decode_frames", "encode_frames", "to_rgb", "to_yuv"),
    "bitstream": ("SUFFIX", "BitstreamError", "BitstreamHeader", "only_file", "pack_uleb128", "read_bitstream",
                  "read_uleb128", "write_bitstream"),
    "checkpoints": ("CheckpointError", "codec_folder", "find_checkpoint", "latest_checkpoint", "read_checkpoint",
                    "store_checkpoint"),
    "feature_coding": ("FeatureStream", "decode_features", "encode_features", "quantise_closed_loop"),
    "key_frames": ("KEY_FRAME_PARAMS", "LAST", "MULTI", "REFS", "Blend", "KeyFramePolicy", "KeyFrames",
                   "choose_references", "code_key_frames", "decode_key_frames", "delay_note", "key_for_frame",
                   "pack_choices", "plan_frames", "render", "unpack_choices"),
    "fomm": ("Fomm", "FommConfig", "FommConfigError", "Keypoints", "load_checkpoint", "model_from_checkpoint",
             "resize_clip"),
    "tensors": ("default_device", "frames_to_tensor"),
    "manifest": ("ManifestCodec",),
}
_MODULES = ("anchor", "base", "bitstream", "checkpoints", "faces", "feature_coding", "fomm", "key_frames",
            "manifest", "tensors", "video", "ffmpeg")
_HOME = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = sorted([*_HOME, *_MODULES])


def __getattr__(name: str):
    if name in _MODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _HOME:
        return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return __all__
