"""The model weight files the platform knows, and how they are installed. Django-free.

Every file lives where the library that reads it looks: torch hub's
checkpoint folder, ``$TORCH_HOME/hub/checkpoints/`` (``torch.hub.get_dir()``),
which torchvision and piq read before they would download. A weight is
installed only through ``download_weight`` or ``install_weight_from``, both of
which verify the file's SHA-256 before it is renamed into place (DESIGN.md,
"Model weights"); metrics check ``missing_weights`` before they build a model,
so nothing is ever downloaded while a metric runs.

A file with no published SHA-256 (``sha256=None``) is trusted on first use:
the first install records the file's SHA-256 in ``<filename>.sha256`` beside
it, and every later install must match that record.
"""
import importlib.util
import shutil
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from metrics.spec import MetricUnavailableError
from qa_platform.codec.storage import atomic_path, sha256_file, write_bytes_atomic
from qa_platform.progress import progress_bar

FETCH_COMMAND = "python manage.py fetch_weights"


class WeightsMissingError(MetricUnavailableError):
    """A metric needs weight files that are not installed."""

    def __init__(self, missing: list["WeightFile"]):
        self.missing = missing
        files = ", ".join(f"{w.path()} ({w.name})" for w in missing)
        super().__init__(
            f"missing weight file(s): {files}; install with `{FETCH_COMMAND}` "
            f"(offline: `{FETCH_COMMAND} --from DIR`)"
        )


class WeightVerificationError(ValueError):
    """A candidate weight file does not match its registry entry; it was not installed."""


@dataclass(frozen=True)
class WeightFile:
    """One weight file: where it comes from, what it must hash to, where it goes.

    ``sha256`` is the full hex SHA-256 of the file, or ``None`` where no
    trustworthy value could be found (``note`` says so): such a file is
    trusted on first use (``pin_path``). ``size`` is in bytes (``None`` where
    unknown).
    """

    name: str
    filename: str
    url: str
    sha256: str | None
    size: int | None
    licence: str
    used_by: str
    note: str = ""

    def path(self) -> Path:
        """Where the file is installed: ``torch.hub.get_dir()/checkpoints/<filename>``."""
        import torch.hub

        return Path(torch.hub.get_dir()) / "checkpoints" / self.filename

    def is_installed(self) -> bool:
        return self.path().is_file()

    def pin_path(self) -> Path:
        """Where the SHA-256 of a file with no published hash is recorded on first use: ``<path>.sha256``."""
        return self.path().with_name(self.filename + ".sha256")

    def recorded_sha256(self) -> str | None:
        """The hex SHA-256 recorded on first use, or ``None`` (a published ``sha256`` needs no record)."""
        if self.sha256 is not None or not self.pin_path().is_file():
            return None
        return self.pin_path().read_text().split()[0]


_TORCHVISION_LICENCE = (
    "torchvision code BSD-3-Clause; weights trained on ImageNet, whose terms allow "
    "non-commercial research use (see torchvision's model documentation)"
)

WEIGHTS = {
    weight.name: weight
    for weight in (
        WeightFile(
            name="alexnet",
            filename="alexnet-owt-7be5be79.pth",
            url="https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
            sha256="7be5be791159472b1fbf3c69796f7cb30dca7ad8466c2df70058c37116cdee02",
            size=244_408_911,
            licence=_TORCHVISION_LICENCE,
            used_by="lpips_alex (torchvision AlexNet_Weights.IMAGENET1K_V1)",
        ),
        WeightFile(
            name="vgg16",
            filename="vgg16-397923af.pth",
            url="https://download.pytorch.org/models/vgg16-397923af.pth",
            sha256="397923af8e79cdbb6a7127f12361acd7a2f83e06b05044ddf496e83de57a5bf0",
            size=553_433_881,
            licence=_TORCHVISION_LICENCE,
            used_by="dists (torchvision VGG16_Weights.IMAGENET1K_V1)",
        ),
        WeightFile(
            name="dists",
            filename="dists_weights.pt",
            url="https://github.com/photosynthesis-team/piq/releases/download/v0.4.1/dists_weights.pt",
            sha256=None,
            size=None,
            licence="piq Apache-2.0; alpha/beta from the DISTS authors' release (MIT)",
            used_by="dists (piq.DISTS alpha and beta)",
            note="no published SHA-256: piq loads this release file without a hash check; trusted on "
                 "first use (the first install records its SHA-256 beside it, later installs must match)",
        ),
    )
}


@dataclass(frozen=True)
class BundledModel:
    """A model file that a Python package ships: nothing to fetch, listed so that
    every number can be traced to the file behind it (``fetch_weights --list``)."""

    name: str
    package: str
    relative_path: str
    licence: str
    used_by: str

    def path(self) -> Path:
        """The file inside the installed package; ``FileNotFoundError`` when the package is absent."""
        spec = importlib.util.find_spec(self.package)
        if spec is None or not spec.submodule_search_locations:
            raise FileNotFoundError(f"package {self.package} is not installed (pip install -r requirements.txt)")
        return Path(list(spec.submodule_search_locations)[0]) / self.relative_path


_DLIB_MODELS = "Davis King's dlib-models, public domain / CC0 1.0 (face_recognition_models, MIT)"

BUNDLED = (
    BundledModel("dlib-landmarks-68", "face_recognition_models", "models/shape_predictor_68_face_landmarks.dat",
                 _DLIB_MODELS + "; trained on iBUG 300-W, whose images are for research use",
                 "ingest face crop, landmark-warp codec, akd*, pose_*, ear_r, mouth_r, face region"),
    BundledModel("dlib-face-recognition-v1", "face_recognition_models",
                 "models/dlib_face_recognition_resnet_model_v1.dat", _DLIB_MODELS, "aed, id_sim"),
    BundledModel("lpips-alex-v0.1", "lpips", "weights/v0.1/alex.pth", "lpips package, BSD-2-Clause",
                 "lpips_alex, face_lpips (linear layers; the AlexNet backbone is 'alexnet')"),
    BundledModel("lpips-vgg-v0.1", "lpips", "weights/v0.1/vgg.pth", "lpips package, BSD-2-Clause",
                 "lpips_vgg (linear layers; the VGG16 backbone is 'vgg16')"),
    BundledModel("vmaf_v0.6.1", "vmaf_torch", "svm_predict.py",
                 "vmaf-torch, BSD-3-Clause; model of Netflix vmaf (BSD+Patent)",
                 "vmaf_torch (SVM of vmaf_v0.6.1.json embedded in the source file; the vmaf "
                 "metric uses the same model built into libvmaf)"),
)


def get_weight(name: str) -> WeightFile:
    """The registry entry ``name``; ``KeyError`` naming the known entries otherwise."""
    try:
        return WEIGHTS[name]
    except KeyError:
        raise KeyError(f"unknown weight {name!r} (known: {', '.join(WEIGHTS)})") from None


def missing_weights(names) -> list[WeightFile]:
    """The entries among ``names`` whose file is not installed."""
    return [weight for weight in map(get_weight, names) if not weight.is_installed()]


def require_weights(names) -> dict[str, Path]:
    """Installed paths of the ``names`` weights; raises ``WeightsMissingError`` if any is absent."""
    missing = missing_weights(names)
    if missing:
        raise WeightsMissingError(missing)
    return {name: get_weight(name).path() for name in names}


def verify_weight(weight: WeightFile, candidate: Path) -> str:
    """Check ``candidate`` against ``weight``'s size and SHA-256; return its hex SHA-256.

    The hash must equal the published ``weight.sha256`` or, for a file with
    none, the one recorded on first use (when there is no record yet, any
    hash passes and the caller records it with ``record_first_use``).
    Raises ``WeightVerificationError`` when the size or hash differ (the
    message gives the hash found).
    """
    size = Path(candidate).stat().st_size
    if weight.size is not None and size != weight.size:
        raise WeightVerificationError(
            f"{size} bytes, expected {weight.size}; not installed"
        )
    actual = sha256_file(candidate)
    if weight.sha256 is not None and actual != weight.sha256:
        raise WeightVerificationError(
            f"SHA-256 {actual}, expected {weight.sha256}; not installed"
        )
    recorded = weight.recorded_sha256()
    if recorded is not None and actual != recorded:
        raise WeightVerificationError(
            f"SHA-256 {actual}, expected {recorded} (recorded on first use in {weight.pin_path()}); not installed"
        )
    return actual


def record_first_use(weight: WeightFile, sha256: str) -> bool:
    """Record ``sha256`` for a weight with no published hash and no record yet; return whether it was recorded."""
    if weight.sha256 is not None or weight.pin_path().is_file():
        return False
    write_bytes_atomic(weight.pin_path(), f"{sha256}  {weight.filename}\n".encode())
    return True


def unreachable_reason(url: str, timeout: float) -> str:
    """Why ``url`` cannot be downloaded now ("" when a HEAD request to it succeeds within ``timeout`` seconds).

    Goes through urllib, so the proxy variables (``https_proxy``) apply as in a download.
    """
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout):
            return ""
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code} {exc.reason}"
    except OSError as exc:  # URLError, a timeout
        return str(getattr(exc, "reason", exc))


def install_weight_from(weight: WeightFile, folder: Path) -> Path:
    """Copy ``folder/<filename>`` into place after verifying it; return the installed path.

    Raises ``FileNotFoundError`` when the folder lacks the file and
    ``WeightVerificationError`` when it does not verify (nothing is installed).
    """
    source = Path(folder) / weight.filename
    if not source.is_file():
        raise FileNotFoundError(f"{source} not found")
    with atomic_path(weight.path()) as tmp:
        shutil.copyfile(source, tmp)
        digest = verify_weight(weight, tmp)
    record_first_use(weight, digest)
    return weight.path()


def download_weight(weight: WeightFile, progress: bool = True, timeout: float | None = None) -> Path:
    """Download ``weight.url`` with a progress bar, verify it, move it into place.

    ``timeout``: seconds the connection and each read may wait (``None``: no
    limit). Returns the installed path. Raises ``urllib.error.URLError`` (or
    ``TimeoutError``) when the download fails and ``WeightVerificationError``
    when the file does not verify; in both cases nothing is installed.
    """
    with atomic_path(weight.path()) as tmp:
        with urllib.request.urlopen(weight.url, timeout=timeout) as response, open(tmp, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or weight.size
            with progress_bar(total=total, unit="B", unit_scale=True, desc=weight.filename,
                      disable=not progress) as bar:
                for chunk in iter(lambda: response.read(1 << 20), b""):
                    out.write(chunk)
                    bar.update(len(chunk))
        digest = verify_weight(weight, tmp)
    record_first_use(weight, digest)
    return weight.path()
