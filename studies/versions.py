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
    """The short git commit of the checkout (``settings.BASE_DIR``), or a sentence saying there is none."""
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=settings.BASE_DIR, check=False)
    return commit.stdout.strip() or "unknown (not a git checkout)"


def software_versions(packages: list[str] = PACKAGES) -> dict[str, str]:
    """``python``, each of ``packages`` and ``faceqa`` (the code's commit), name -> version."""
    return {"python": platform.python_version(), **{name: package_version(name) for name in packages},
            "faceqa": code_version()}
