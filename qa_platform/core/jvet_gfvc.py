"""The experiment folder of the JVET GFVC software, read for import. Django-free.

Layout written by xyzysz/GFVC_Software_v2 (``source/DAC_encoder.py``,
``source/DAC_decoder.py``, ``source/GFVC/utils.py``; CFTE, FOMM and FV2V
write the same) under ``experiment/{MODEL}/Iframe_{YUV420|RGB444}/``, with
``seq`` the stem of the input file (``os.path.splitext(os.path.split(
original_seq)[-1])[0]``, e.g. ``VOXCELEB_001_256x256_25_8bit_444``):

- ``enc/{seq}_qp{qp}/frame{NNNN}.bin``: the VTM bitstream of each key
  (reference) frame, ``NNNN`` = ``str(frame_idx).zfill(4)``
  (``ReferenceImageCoder.compress`` / ``RefereceImageDecoder.decompress``).
  The folder also holds the coder's working files (``frame{NNNN}_org.yuv``,
  ``_rec.yuv``, ``_dec.yuv``, ``.rgb``, ``.log``, ``enc_video.mp4``): not
  bitstream, not counted;
- ``kp/{seq}_qp{qp}/frame{NNNN}.bin``: the feature (keypoint) bitstream of
  each animated frame (``DACKPEncoder.encode_kp``, same zero padding), and
  ``kp/{seq}_qp{qp}/metadata.bin``: the key-frame indices
  (``encode_metadata``). ``frame{N}.txt`` files are not bitstream;
- ``dec/{seq}_qp{qp}.rgb``: the decoded clip, planar RGB 4:4:4, 8 bits
  (``img_rec_out.tofile(f_dec)`` of a 3 x H x W uint8 array per frame), and
  ``dec/{seq}_qp{qp}.mp4``, an imageio copy for viewing (ignored here);
- ``resultBit/{seq}_qp{qp}_th{thresh}.txt``: the decoder's own total
  (``np.savetxt`` of ``[sum_bits, seconds, generation seconds]``); kept as
  information only.

What the decoder reads, and therefore what is counted: ``metadata.bin``, the
``enc`` bitstream of every key frame and the ``kp`` bitstream of every other
frame (``DAC_decoder.py``: ``if frame_idx in kp_decoder.ref_frame_idx`` then
``ref_decoder.decompress`` else ``kp_decoder.decode_kp``). The encoder's
adaptive refresh codes a frame's keypoints first and may then code that frame
as a key frame instead (``DAC_encoder.py``, ``if encode_kp: ... else:
ref_coder.compress``), leaving a ``kp`` file the decoder never opens: such
files are listed as unread and not counted. The key frames are the frames
with an ``enc`` bitstream; ``metadata.bin`` is not decoded here.

Not read: HDAC's ``{seq}_qp{qp}_bqp{bl_qp}`` folders with their base layer
under ``bl/``, and reference frames coded by a learned image codec
(``image_codecs/lic.py`` writes other ``.bin`` names): both are refused with
a reason rather than counted wrongly.
"""
import re
from dataclasses import dataclass
from pathlib import Path

DECODED = re.compile(r"^(?P<seq>.+)_qp(?P<qp>\d+)\.rgb$")
FRAME_BIN = re.compile(r"^frame(?P<index>\d+)\.bin$")
METADATA = "metadata.bin"
IFRAME_PREFIX = "Iframe_"


class LayoutError(ValueError):
    """A folder is not (or not wholly) a JVET GFVC experiment folder; the message says why, in one line."""


@dataclass(frozen=True)
class BitstreamFile:
    """One file the decoder reads: ``stored`` is its name in the PVS's ``bitstream/`` folder."""

    stored: str
    path: Path


@dataclass(frozen=True)
class Run:
    """One sequence decoded at one QP in an ``Iframe_*`` folder.

    ``decoded``: ``dec/{seq}_qp{qp}.rgb``; ``enc_dir`` and ``kp_dir`` its
    bitstream folders (they may be missing: ``run_bitstream`` says so);
    ``reports``: its ``resultBit/{seq}_qp{qp}_th*.txt`` files.
    """

    seq: str
    qp: int
    decoded: Path
    enc_dir: Path
    kp_dir: Path
    reports: tuple[Path, ...]

    @property
    def name(self) -> str:
        return f"{self.seq}_qp{self.qp}"


def iframe_folder(path: Path) -> Path:
    """The ``Iframe_*`` folder at ``path``: ``path`` itself (it has ``dec/``), or the one ``Iframe_*``
    folder inside a model folder. Raises ``LayoutError`` otherwise."""
    path = Path(path)
    if not path.is_dir():
        raise LayoutError(f"{path}: no such folder")
    if (path / "dec").is_dir():
        return path
    found = sorted(p for p in path.iterdir() if p.is_dir() and p.name.startswith(IFRAME_PREFIX))
    if len(found) != 1:
        names = ", ".join(p.name for p in found) or "none"
        raise LayoutError(f"{path}: expected an Iframe_* folder with dec/, or a model folder holding exactly "
                          f"one Iframe_* folder (found {names})")
    if not (found[0] / "dec").is_dir():
        raise LayoutError(f"{found[0]}: has no dec/ folder")
    return found[0]


def find_runs(folder: Path) -> tuple[list[Run], list[str]]:
    """The runs of an ``Iframe_*`` folder, one per ``dec/{seq}_qp{qp}.rgb``, sorted by sequence and QP.

    Returns (runs, problems): a problem is one line about a ``dec/*.rgb`` file
    whose name is not ``{seq}_qp{qp}.rgb`` (e.g. HDAC's ``_bqp`` runs).
    Raises ``LayoutError`` when ``folder`` has no ``dec/`` folder.
    """
    folder = Path(folder)
    dec = folder / "dec"
    if not dec.is_dir():
        raise LayoutError(f"{folder}: has no dec/ folder")
    runs, problems = [], []
    for path in sorted(dec.glob("*.rgb")):
        match = DECODED.match(path.name)
        if not match or "_bqp" in match["seq"]:
            problems.append(f"dec/{path.name}: not a {{seq}}_qp{{qp}}.rgb name (HDAC base-layer runs, "
                            "{seq}_qp{qp}_bqp{bl_qp}, are not supported)")
            continue
        name = f"{match['seq']}_qp{match['qp']}"
        reports = tuple(sorted((folder / "resultBit").glob(f"{glob_escape(name)}_th*.txt")))
        runs.append(Run(seq=match["seq"], qp=int(match["qp"]), decoded=path, enc_dir=folder / "enc" / name,
                        kp_dir=folder / "kp" / name, reports=reports))
    runs.sort(key=lambda run: (run.seq, run.qp))
    return runs, problems


def glob_escape(text: str) -> str:
    """``text`` with glob's special characters bracketed, to match itself."""
    return re.sub(r"([*?\[])", r"[\1]", text)


def _frame_files(folder: Path, allowed: set[str], what: str) -> dict[int, Path]:
    """``frame{NNNN}.bin`` files of ``folder`` by frame index; other ``.bin`` files (not in ``allowed``) refused."""
    if not folder.is_dir():
        raise LayoutError(f"{what}/{folder.name}/ is missing")
    frames = {}
    for path in sorted(folder.iterdir()):
        if not path.is_file() or path.suffix != ".bin" or path.name in allowed:
            continue
        match = FRAME_BIN.match(path.name)
        if not match or path.name != f"frame{str(int(match['index'])).zfill(4)}.bin":
            raise LayoutError(f"{what}/{folder.name}/{path.name} is not a frame{{NNNN}}.bin bitstream "
                              "(reference frames coded by a learned image codec are not supported)")
        frames[int(match["index"])] = path
    return frames


def run_bitstream(run: Run, frame_count: int) -> tuple[list[BitstreamFile], list[Path]]:
    """The files the JVET decoder reads to decode ``frame_count`` frames of ``run``, in decoding order.

    Returns (files, unread): ``kp/.../metadata.bin`` first (stored as
    ``kp-metadata.bin``), then per frame its ``enc`` bitstream (key frame,
    ``enc-frameNNNN.bin``) or else its ``kp`` bitstream (``kp-frameNNNN.bin``);
    ``unread`` are ``kp`` files of key frames, which the decoder skips. Raises
    ``LayoutError`` when a folder or ``metadata.bin`` is missing, frame 0 is not
    a key frame, a frame has no bitstream, a bitstream names a frame past
    ``frame_count``, or a ``.bin`` file has a name the decoder would not read.
    """
    enc = _frame_files(run.enc_dir, set(), "enc")
    kp = _frame_files(run.kp_dir, {METADATA}, "kp")
    metadata = run.kp_dir / METADATA
    if not metadata.is_file():
        raise LayoutError(f"kp/{run.name}/{METADATA} is missing")
    if 0 not in enc:
        raise LayoutError(f"enc/{run.name}/frame0000.bin is missing: frame 0 must be a key frame")
    beyond = sorted(index for index in {*enc, *kp} if index >= frame_count)
    if beyond:
        raise LayoutError(f"{run.name}: bitstream for frame {beyond[0]} but the decoded clip has {frame_count} frames")
    files = [BitstreamFile("kp-metadata.bin", metadata)]
    for index in range(frame_count):
        if index in enc:
            files.append(BitstreamFile(f"enc-{enc[index].name}", enc[index]))
        elif index in kp:
            files.append(BitstreamFile(f"kp-{kp[index].name}", kp[index]))
        else:
            name = f"frame{str(index).zfill(4)}.bin"
            raise LayoutError(f"{run.name}: frame {index} has no bitstream (neither enc/{run.name}/{name} "
                              f"nor kp/{run.name}/{name})")
    unread = [kp[index] for index in sorted(kp) if index in enc]
    return files, unread


def reported_bits(path: Path) -> float | None:
    """The total bits a ``resultBit`` file reports (its first number), or None when it cannot be read."""
    try:
        return float(Path(path).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
