"""The software behind a stored analysis or an exported dataset: package versions and the code's commit."""
import importlib.metadata
import platform
import subprocess

from django.conf import settings

PACKAGES = ["Django", "numpy", "scipy", "pandas", "sureal", "av", "torch", "piq", "lpips", "dlib-bin", "plotly"]


def package_version(name: str) -> str:
    """The installed version of distribution ``name``, or ``not installed``."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def code_version() -> str:
    """The short git commit of the checkout (``settings.BASE_DIR``), else ``settings.FACEQA_CODE_VERSION``
    (a container image has neither git nor .git: its build records the commit there), else a
    sentence saying there is none."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=settings.BASE_DIR, check=False).stdout.strip()
    except OSError:  # no git program
        commit = ""
    return commit or settings.FACEQA_CODE_VERSION or "unknown (not a git checkout)"


def software_versions(packages: list[str] = PACKAGES) -> dict[str, str]:
    """``python``, each of ``packages`` and ``faceqa`` (the code's commit), name -> version."""
    return {"python": platform.python_version(), **{name: package_version(name) for name in packages},
            "faceqa": code_version()}
