"""Running a manifest's programs: what is missing, one command, the version. Django-free."""
import re
import shlex
import shutil
import subprocess
from pathlib import Path

from qa_platform.codec.base import CodecError
from qa_platform.codec.manifest.schema import Manifest, substitute

VERSION_TIMEOUT_S = 30
STDERR_LINES = 20


def missing_requirements(manifest: Manifest) -> list[str]:
    """What this machine lacks to run the manifest's programs: one phrase per problem ([] when none)."""
    base = {"manifest_dir": str(manifest.path.parent)}
    checks = [(program, lambda path: shutil.which(path) is not None, "program {!r} not found on PATH")
              for program in dict.fromkeys(command[0] for command in manifest.commands())]
    checks += [(required, lambda path: Path(path).exists(), "required file {} does not exist")
               for required in manifest.requires]
    problems = []
    for template, present, missing in checks:
        try:
            resolved = substitute(template, base)
        except CodecError as exc:
            problems.append(str(exc))
            continue
        if not present(resolved):
            problems.append(missing.format(resolved))
    return list(dict.fromkeys(problems))


def _tail(text: bytes) -> str:
    return "\n".join(text.decode(errors="replace").strip().splitlines()[-STDERR_LINES:])


def run_command(args: list[str], cwd: Path, timeout_s: float, codec: str) -> subprocess.CompletedProcess:
    """Run one program (no shell) in ``cwd``; ``CodecError`` with the command line, exit code and stderr tail."""
    line = shlex.join(args)
    try:
        result = subprocess.run(args, check=False, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout_s)
    except FileNotFoundError as exc:
        raise CodecError(f"{codec}: cannot run `{line}`: {exc}") from exc
    except subprocess.TimeoutExpired as exc:
        raise CodecError(f"{codec}: `{line}` ran past its {timeout_s:g} s timeout (timeout_s in the manifest)") from exc
    if result.returncode != 0:
        raise CodecError(f"{codec}: `{line}` exited with code {result.returncode}; "
                         f"last lines of stderr:\n{_tail(result.stderr) or '(empty)'}")
    return result


def program_version(manifest: Manifest) -> str:
    """The codec version: the version command's output, matched by the pattern, plus the manifest's hash.

    "unknown" stands for the program part when it cannot be run here.
    """
    tag = f"manifest sha256 {manifest.sha256[:12]}"
    if missing_requirements(manifest):
        return f"unknown ({tag})"
    args = [substitute(arg, {"manifest_dir": str(manifest.path.parent)}) for arg in manifest.version_command]
    try:
        result = subprocess.run(args, check=False, stdin=subprocess.DEVNULL, capture_output=True,
                                timeout=VERSION_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired):
        return f"unknown ({tag})"
    output = (result.stdout + result.stderr).decode(errors="replace")
    match = re.search(manifest.version_pattern, output) if manifest.version_pattern else None
    if match:
        text = match.group(1) if match.groups() else match.group(0)
    else:
        text = next((line.strip() for line in output.splitlines() if line.strip()), "unknown")
    return f"{text} ({tag})"


