"""External codecs described by a TOML manifest alone (VTM, vvenc, research GFVC scripts). Django-free.

The format is documented in :mod:`qa_platform.codec.manifest.schema`; running
the programs is :mod:`~.programs`, the frame files they read and write
:mod:`~.raw_frames`, the codec class :mod:`~.codec`, and key frames coded by a
manifest codec :mod:`~.intra`.
"""
from qa_platform.codec.manifest.codec import ManifestCodec, codec_class
from qa_platform.codec.manifest.intra import (
    intra_decode,
    intra_encode,
    pack_files,
    unpack_files,
)
from qa_platform.codec.manifest.programs import (
    missing_requirements,
    program_version,
    run_command,
)
from qa_platform.codec.manifest.raw_frames import (
    FRAME_FORMATS,
    read_raw_frames,
    write_raw_frames,
)
from qa_platform.codec.manifest.schema import (
    HEADER_NAME,
    Manifest,
    ManifestError,
    ParamSpec,
    parse_manifest,
    read_manifest,
)

__all__ = [
    "FRAME_FORMATS", "HEADER_NAME", "Manifest", "ManifestCodec", "ManifestError", "ParamSpec", "codec_class",
    "intra_decode", "intra_encode", "missing_requirements", "pack_files", "parse_manifest", "program_version",
    "read_manifest", "read_raw_frames", "run_command", "unpack_files", "write_raw_frames",
]
