"""Content-addressed checkpoint files of learned codecs. Django-free.

A checkpoint's identity is the SHA-256 of its bytes: it is stored as
``<folder>/<codec>/<sha256>.pt`` and an HRC names it by that hash (or its
first ``MIN_PREFIX`` hex digits or more). Every read checks that the bytes
still hash to the name. The folder is ``$FACEQA_CHECKPOINT_DIR`` when set,
else the one given to :func:`configure` (the core app gives it
``settings.DATA_DIR / "checkpoints"`` when Django starts).
"""
import hashlib
import os
import re
from pathlib import Path

from qa_platform.codec.storage import write_bytes_atomic

ENV_VAR = "FACEQA_CHECKPOINT_DIR"
SUFFIX = ".pt"
MIN_PREFIX = 16
_HEX = re.compile(r"[0-9a-f]+")


class CheckpointError(ValueError):
    """A checkpoint is missing, ambiguous, altered or not readable; the message says what to do."""


# The folder used when $FACEQA_CHECKPOINT_DIR is unset (see configure).
_DEFAULT_ROOT: list[Path] = []


def configure(root) -> None:
    """Set the checkpoint folder used when ``$FACEQA_CHECKPOINT_DIR`` is unset."""
    _DEFAULT_ROOT[:] = [Path(root)]


def checkpoint_root() -> Path:
    """The checkpoint folder of this installation (see the module docstring).

    Raises ``CheckpointError`` when neither the variable nor :func:`configure` gave one.
    """
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR])
    if not _DEFAULT_ROOT:
        raise CheckpointError(f"no checkpoint folder: set {ENV_VAR} or call qa_platform.codec.checkpoints.configure")
    return _DEFAULT_ROOT[0]


def codec_folder(codec: str, root: Path | None = None) -> Path:
    """Where the checkpoints of ``codec`` live: ``<root>/<codec>/`` (may not exist yet)."""
    return Path(root if root is not None else checkpoint_root()) / codec


def store_checkpoint(data: bytes, folder: Path) -> tuple[Path, str]:
    """Write ``data`` atomically as ``folder/<sha256>.pt``; return (path, hex SHA-256)."""
    digest = hashlib.sha256(data).hexdigest()
    return write_bytes_atomic(Path(folder) / f"{digest}{SUFFIX}", data), digest


def find_checkpoint(reference: str, folder: Path) -> Path:
    """The checkpoint of ``folder`` whose SHA-256 starts with ``reference`` (16 to 64 lower-case hex digits).

    Raises ``CheckpointError`` for a malformed reference, or when no file or
    more than one matches. The file's hash is checked by ``read_checkpoint``.
    """
    if not isinstance(reference, str) or not MIN_PREFIX <= len(reference) <= 64 or not _HEX.fullmatch(reference):
        raise CheckpointError(
            f"a checkpoint is named by its SHA-256: {MIN_PREFIX} to 64 lower-case hex digits, got {reference!r}"
        )
    matches = sorted(Path(folder).glob(f"{reference}*{SUFFIX}"))
    if not matches:
        raise CheckpointError(
            f"no checkpoint {reference} in {folder}; train one (python manage.py train_codec ...) "
            f"or point {ENV_VAR} at the folder that holds it"
        )
    if len(matches) > 1:
        raise CheckpointError(f"{reference} names {len(matches)} checkpoints in {folder}; give more hex digits")
    return matches[0]


def read_checkpoint(path: Path) -> tuple[bytes, str]:
    """The bytes of a checkpoint file and their SHA-256, checked against the file's name.

    Raises ``CheckpointError`` when the file is missing or its bytes no
    longer hash to its name (altered or damaged).
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != path.stem:
        raise CheckpointError(
            f"{path}: its SHA-256 is {digest}, not the {path.stem} its name claims: the file was altered or "
            "damaged; restore it or train again"
        )
    return data, digest


def latest_checkpoint(folder: Path) -> Path | None:
    """The most recently written checkpoint of ``folder`` (by modification time), or ``None``."""
    found = [p for p in Path(folder).glob(f"*{SUFFIX}") if len(p.stem) == 64 and _HEX.fullmatch(p.stem)]
    return max(found, key=lambda p: (p.stat().st_mtime_ns, p.name)) if found else None
