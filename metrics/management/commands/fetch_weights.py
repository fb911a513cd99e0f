from pathlib import Path
from urllib.parse import urlparse

from django.core.management.base import BaseCommand, CommandError

from metrics import weights
from qa_platform.codec.storage import sha256_file
from qa_platform.core.optional_parts import format_messages, optional_part_messages

# --demo: seconds to wait for a source to answer, and for each read of a download.
DEMO_CONNECT_TIMEOUT_S = 10
DEMO_READ_TIMEOUT_S = 60


class Command(BaseCommand):
    help = (
        "Install the model weight files the metrics need (LPIPS and DISTS backbones) under "
        "$TORCH_HOME/hub/checkpoints, verifying each file's SHA-256 before it is moved into place."
    )

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
        parser.add_argument(
            "--demo", action="store_true",
            help=f"For `make demo`: download only the missing files, saying so; when their source does not "
                 f"answer within {DEMO_CONNECT_TIMEOUT_S} s, say in one line that LPIPS/DISTS will be "
                 f"unavailable and how to install them offline. Exits 0 whatever happens.",
        )

    def handle(self, *args, names, show_list, folder, demo, **options):
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
                if messages := optional_part_messages("weights"):
                    self.stdout.write("\n" + format_messages(messages))
            return
        if demo:
            self._demo([weight for weight in chosen if not weight.is_installed()])
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
        self.stdout.write(self.style.SUCCESS(f"{weight.name}: installed at {path} ({_verified(weight)})"))
        return ""

    def _demo(self, missing: list[weights.WeightFile]) -> None:
        """Download the ``missing`` weights whose source answers; one message for those whose source does not."""
        reasons = {}  # host -> why it cannot be reached
        for host, url in {urlparse(w.url).hostname: w.url for w in missing}.items():
            if reason := weights.unreachable_reason(url, timeout=DEMO_CONNECT_TIMEOUT_S):
                reasons[host] = reason
        offline = [w for w in missing if urlparse(w.url).hostname in reasons]
        if offline:
            self.stdout.write(self.style.WARNING(
                f"LPIPS/DISTS weights not fetched ({', '.join(w.name for w in offline)}): no internet to "
                f"{_hosts(reasons)}; those metrics will be "
                f"reported unavailable.\n  To install them offline: download the URLs that `{weights.FETCH_COMMAND} "
                f"--list` names into a folder DIR elsewhere, copy it here, run `{weights.FETCH_COMMAND} --from DIR`."
            ))
        for weight in missing:
            if weight in offline:
                continue
            size = f", {weight.size / 2**20:.0f} MiB" if weight.size else ""
            self.stdout.write(f"downloading the {weight.name} weights for LPIPS/DISTS ({weight.url}{size}); "
                              f"the SHA-256 is checked before the file is kept")
            try:
                path = weights.download_weight(weight, timeout=DEMO_READ_TIMEOUT_S)
            except (weights.WeightVerificationError, OSError) as exc:
                self.stdout.write(self.style.WARNING(f"{weight.name}: not installed: {exc}"))
                continue
            self.stdout.write(self.style.SUCCESS(f"{weight.name}: installed at {path} ({_verified(weight)})"))


def _hosts(reasons: dict[str, str]) -> str:
    """Name the unreachable hosts with why, those that failed alike together: "a, b (why)"."""
    grouped = {}
    for host, reason in reasons.items():
        grouped.setdefault(reason, []).append(host)
    return "; ".join(f"{', '.join(hosts)} ({reason})" for reason, hosts in grouped.items())


def _verified(weight: weights.WeightFile) -> str:
    if weight.sha256 is not None:
        return "SHA-256 verified"
    return (f"no published SHA-256: trusted on first use, SHA-256 {weight.recorded_sha256()} kept in "
            f"{weight.pin_path()}; every later install must match it")


def _describe(weight: weights.WeightFile) -> str:
    state = "installed" if weight.is_installed() else "missing"
    size = f"{weight.size} bytes" if weight.size is not None else "unknown"
    return (
        f"{weight.name} ({state}): {weight.filename}\n"
        f"  path:    {weight.path()}\n"
        f"  url:     {weight.url}\n"
        f"  sha256:  {_pin(weight)}\n"
        f"  size:    {size}\n"
        f"  used by: {weight.used_by}\n"
        f"  licence: {weight.licence}"
    )


def _pin(weight: weights.WeightFile) -> str:
    if weight.sha256 is not None:
        return weight.sha256
    if recorded := weight.recorded_sha256():
        return f"{recorded} (recorded on first use in {weight.pin_path()}; {weight.note})"
    return f"not pinned ({weight.note})"


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
