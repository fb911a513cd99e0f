from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from metrics import weights
from qa_platform.codec.storage import sha256_file


class Command(BaseCommand):
    help = (
        "Install the model weight files the metrics need (LPIPS and DISTS backbones) under "
        "$TORCH_HOME/hub/checkpoints, verifying each file's SHA-256 before it is moved into place."
    )
    # Missing weights are what this command repairs: their warnings (metrics.W001) would be noise.
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument(
            "names", nargs="*",
            help=f"Weights to install (default: all; known: {', '.join(weights.WEIGHTS)}).",
        )
        parser.add_argument(
            "--list", dest="show_list", action="store_true",
            help="List the known weights and whether they are installed.",
        )
        parser.add_argument(
            "--from", dest="folder", type=Path,
            help="Copy the files from this folder instead of downloading them (offline install).",
        )

    def handle(self, *args, names, show_list, folder, **options):
        try:
            chosen = [weights.get_weight(name) for name in names] or list(weights.WEIGHTS.values())
        except KeyError as exc:
            raise CommandError(exc.args[0]) from exc
        if show_list:
            for weight in chosen:
                self.stdout.write(_describe(weight))
            if not names:
                self.stdout.write("\nBundled with their Python packages (nothing to fetch):")
                for model in weights.BUNDLED:
                    self.stdout.write(_describe_bundled(model))
            return
        refused = [reason for weight in chosen if (reason := self._install(weight, folder))]
        if refused:
            raise CommandError("not installed:\n  " + "\n  ".join(refused))

    def _install(self, weight: weights.WeightFile, folder: Path | None) -> str:
        """Install one weight; return why it was refused, or "" when it is installed."""
        if weight.is_installed():
            self.stdout.write(f"{weight.name}: already installed at {weight.path()}")
            return ""
        try:
            if folder is None:
                path = weights.download_weight(weight)
            else:
                path = weights.install_weight_from(weight, folder)
        except (weights.WeightVerificationError, OSError) as exc:  # OSError: URLError, missing file
            return f"{weight.name}: {exc}"
        self.stdout.write(self.style.SUCCESS(f"{weight.name}: installed at {path} (SHA-256 verified)"))
        return ""


def _describe(weight: weights.WeightFile) -> str:
    state = "installed" if weight.is_installed() else "missing"
    size = f"{weight.size} bytes" if weight.size is not None else "unknown"
    return (
        f"{weight.name} ({state}): {weight.filename}\n"
        f"  path:    {weight.path()}\n"
        f"  url:     {weight.url}\n"
        f"  sha256:  {weight.sha256 or 'not pinned (' + weight.note + ')'}\n"
        f"  size:    {size}\n"
        f"  used by: {weight.used_by}\n"
        f"  licence: {weight.licence}"
    )


def _describe_bundled(model: weights.BundledModel) -> str:
    try:
        path = model.path()
        found = f"{path}\n  sha256:  {sha256_file(path)}\n  size:    {path.stat().st_size} bytes"
    except FileNotFoundError as exc:
        found = f"missing: {exc}"
    return (
        f"{model.name} (package {model.package}):\n"
        f"  path:    {found}\n"
        f"  used by: {model.used_by}\n"
        f"  licence: {model.licence}"
    )
