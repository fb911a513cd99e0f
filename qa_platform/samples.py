"""The sample face clips the demo uses. Django-free.

``../shared/faces/`` beside the checkout is used when present (ten clips).
Elsewhere the six LivePortrait driving clips named in its README are
downloaded, each checked against its SHA-256 (MIT licence, KwaiVGI/LivePortrait
at commit 1986663b).
"""
import urllib.error
import urllib.request
from pathlib import Path


from qa_platform.codec.storage import atomic_path, sha256_file
from qa_platform.progress import progress_bar

SHARED_FACES = Path(__file__).resolve().parent.parent.parent / "shared" / "faces"
LIVEPORTRAIT_URL = (
    "https://raw.githubusercontent.com/KwaiVGI/LivePortrait/"
    "1986663be3b6902605d32200c01f4bfd36cda83d/assets/examples/driving/{name}.mp4"
)
LIVEPORTRAIT_SHA256 = {
    "d0": "63f6f9962e1fdf6e6722172e7a18155204858d5d5ce3b1e0646c150360c33bed",
    "d11": "94b449a25686eddd42e244fb571c908a123aa0154776682601df1f3830f8f65c",
    "d12": "2895169e5aa2a882d39dfc80a17a3eab1cf6ec23b9b6f6be76bae48deda15219",
    "d18": "1dc94c1fec7ef7dc831c8a49f0e1788ae568812cb68e62f6875d9070f573d02a",
    "d19": "3047ba66296d96b8a4584e412e61493d7bc0fa5149c77b130e7feea375e698bd",
    "d20": "1e249873c21abf27b3c9f405a1b5283ef1b70e5eff21c1df44ca4b5b4d9b7309",
}


class SamplesUnavailable(RuntimeError):
    """Neither the shared clips nor the network are there."""


def sample_clips(download_dir: Path, shared_dir: Path = SHARED_FACES) -> list[Path]:
    """Paths of the demo clips: the shared folder's MP4s, else downloaded ones.

    Raises ``SamplesUnavailable`` (what to do in its message) when the shared
    folder is absent and the download fails; a file whose SHA-256 does not
    match is never kept.
    """
    if shared_dir.is_dir():
        clips = sorted(shared_dir.glob("*.mp4"))
        if clips:
            return clips
    return [_fetch(name, sha, Path(download_dir)) for name, sha in LIVEPORTRAIT_SHA256.items()]


def _fetch(name: str, sha256: str, folder: Path) -> Path:
    target = folder / f"lp_{name}.mp4"
    if target.is_file() and sha256_file(target) == sha256:
        return target
    url = LIVEPORTRAIT_URL.format(name=name)
    try:
        with urllib.request.urlopen(url, timeout=30) as response, atomic_path(target) as tmp:
            total = int(response.headers.get("Content-Length") or 0) or None
            with open(tmp, "wb") as out, progress_bar(total=total, unit="B", unit_scale=True, desc=target.name) as bar:
                for chunk in iter(lambda: response.read(1 << 16), b""):
                    out.write(chunk)
                    bar.update(len(chunk))
            if sha256_file(tmp) != sha256:
                raise SamplesUnavailable(f"{url}: SHA-256 mismatch, file discarded")
    except (urllib.error.URLError, OSError) as exc:
        raise SamplesUnavailable(
            f"no sample clips: {SHARED_FACES} is absent and {url} could not be fetched ({exc}). "
            "Put face clips in that folder, or run with internet access."
        ) from exc
    return target
