"""make serve: the production stack on loopback."""
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from qa_platform import runtime, serve


def test_the_secret_key_is_made_once_and_kept_private(tmp_path, monkeypatch):
    monkeypatch.delenv("DJANGO_SECRET_KEY", raising=False)
    key = serve.secret_key(tmp_path)
    assert len(key) >= 50 and serve.secret_key(tmp_path) == key
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0
    monkeypatch.setenv("DJANGO_SECRET_KEY", "x" * 60)
    assert serve.secret_key(tmp_path) == "x" * 60


def test_the_env_file_is_private_and_sourceable(tmp_path):
    serve.write_env_file(tmp_path / "serve.env", {"POSTGRES_PASSWORD": "p w'$x", "DJANGO_DEBUG": "0"})
    assert (tmp_path / "serve.env").stat().st_mode & 0o077 == 0
    shown = subprocess.run(["sh", "-c", f". {tmp_path / 'serve.env'}; echo \"$POSTGRES_PASSWORD|$DJANGO_DEBUG\""],
                           check=True, capture_output=True, text=True).stdout
    assert shown == "p w'$x|0\n"


def _status(url: str) -> int:
    request = urllib.request.Request(url, headers={"Host": "127.0.0.1"})
    try:
        with urllib.request.build_opener(NoRedirect).open(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


@pytest.fixture
def served_dir():
    """A folder the postgres user may pass through (pytest's own are 0700)."""
    folder = Path(tempfile.mkdtemp(prefix="faceqa-serve-"))
    folder.chmod(0o711)
    yield folder
    shutil.rmtree(folder)


def test_a_data_directory_postgresql_cannot_reach_is_refused_with_what_to_do(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("as root only: PostgreSQL then runs as the postgres user")
    tmp_path.chmod(0o700)
    with pytest.raises(runtime.ServiceError, match=rf"cannot pass through {tmp_path} \(mode 700\): chmod o\+x it"):
        runtime.PostgresServer(tmp_path / "postgres")


STOP_BUDGET_S = 150


def _leftovers(process: subprocess.Popen, served_dir: Path) -> str:
    """What still runs and what the services logged, when the stack does not stop; then kill what is left."""
    state = f"serve: {'running' if process.poll() is None else f'exited {process.returncode}'}\n"
    table = subprocess.run(["ps", "-eo", "pid,ppid,pgid,stat,etimes,args"], capture_output=True, text=True).stdout
    mine = [line for line in table.splitlines() if str(served_dir) in line or f" {process.pid} " in line]
    logs = [f"--- {log.name}\n" + log.read_text(errors="replace")[-3000:]
            for log in sorted(served_dir.rglob("*.log"))]
    process.kill()
    for line in mine:
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(line.split()[0]), signal.SIGKILL)
    return state + "\n".join(mine) + "\n" + "\n".join(logs)


@pytest.mark.integration
def test_make_serve_runs_the_production_stack_and_ctrl_c_stops_it(served_dir):
    port = runtime.free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "POSTGRES_"))}
    process = subprocess.Popen(
        [sys.executable, "-m", "qa_platform.serve", "--data-dir", str(served_dir / "data"), "--port", str(port),
         "--web-workers", "2", "--concurrency", "1"],
        cwd=runtime.BASE_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    output = []
    try:
        for line in process.stdout:
            output.append(line)
            if "Ctrl-C stops everything" in line:
                break
        assert process.poll() is None, "".join(output)
        base = f"http://127.0.0.1:{port}"
        assert _status(f"{base}/static/studies/trial.js") == 200  # whitenoise, after collectstatic
        assert _status(f"{base}/") == 302  # researcher pages: staff login, DEBUG is off
        assert _status(f"{base}/study/none/") == 404
    finally:
        process.send_signal(signal.SIGINT)
        # Each service's stop is bounded (runtime.stop_process_group: 30 s for gunicorn, 30 s for the
        # worker, then Redis and PostgreSQL): on a loaded 2-core machine the sum can pass a minute.
        try:
            rest, _ = process.communicate(timeout=STOP_BUDGET_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"Ctrl-C did not stop make serve in {STOP_BUDGET_S} s\n" + _leftovers(process, served_dir))
    assert process.returncode == 0, "".join(output) + rest
    time.sleep(0.5)
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2)
