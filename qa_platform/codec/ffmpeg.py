"""The FFmpeg *program* of the ``imageio-ffmpeg`` wheel: libvvenc (VVC encoder), libvmaf, xpsnr. Django-free.

PyAV stays the in-process video I/O; this static FFmpeg (9.0.2 in
imageio-ffmpeg 0.8.1) is run as a child process for what PyAV's FFmpeg
lacks: the libvvenc VVC encoder, the libvmaf filter (the reference VMAF) and
the xpsnr filter. Raw frames go through pipes, so no temporary video file is
written.
"""
import functools
import re
import subprocess

import imageio_ffmpeg


class FFmpegError(RuntimeError):
    """The FFmpeg program is missing, refused its arguments or failed; the message holds its last words."""


@functools.cache
def executable() -> str:
    """Path of the FFmpeg program shipped by ``imageio-ffmpeg``; ``FFmpegError`` when it is absent."""
    try:
        return imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError as exc:
        raise FFmpegError(f"imageio-ffmpeg has no FFmpeg program here ({exc}); reinstall requirements.txt") from exc


@functools.cache
def version() -> str:
    """FFmpeg's version string, e.g. ``n9.0.2-17-g2a571b6068-20260930`` (recorded with results)."""
    banner = run(["-version"]).decode("utf-8", "replace")
    match = re.search(r"ffmpeg version (\S+)", banner)
    return match.group(1) if match else "unknown"


def run(args: list[str], stdin: bytes | None = None, timeout: float | None = None) -> bytes:
    """Run FFmpeg with ``args`` (quiet: errors only), feeding ``stdin``; return its stdout.

    Raises ``FFmpegError`` with the last lines of its log when it exits
    non-zero or runs past ``timeout`` seconds.
    """
    return _run(["-loglevel", "error", *args], stdin, timeout)[0]


def run_with_log(args: list[str], stdin: bytes | None = None, timeout: float | None = None) -> tuple[bytes, str]:
    """As :func:`run` at log level ``info``: (stdout, FFmpeg's log), for filters that report in the log."""
    return _run(["-nostats", "-loglevel", "info", *args], stdin, timeout)


def _run(args: list[str], stdin: bytes | None, timeout: float | None) -> tuple[bytes, str]:
    command = [executable(), "-hide_banner", *([] if stdin is not None else ["-nostdin"]), *args]
    try:
        done = subprocess.run(command, input=stdin, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise FFmpegError(f"FFmpeg ran past {timeout} s: {' '.join(args[:10])} ...") from exc
    log = done.stderr.decode("utf-8", "replace")
    if done.returncode != 0:
        last = " / ".join(log.strip().splitlines()[-5:]) or "no message"
        raise FFmpegError(f"FFmpeg failed (exit {done.returncode}): {last}")
    return done.stdout, log
