"""Start the services a demo or an integration test needs, on loopback only. Django-free.

``redis_server()`` runs Debian's ``redis-server`` on a free port with no
persistence; ``celery_worker()`` runs one worker process for the ``cpu`` and
``gpu`` queues. Both stop what they started when the ``with`` block ends.
"""
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis

BASE_DIR = Path(__file__).resolve().parent.parent


class ServiceError(RuntimeError):
    """A service could not be started; the message says what to install or check."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def redis_server(timeout: float = 10.0):
    """Run redis-server on 127.0.0.1 and a free port; yield its URL (``redis://…/0``)."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise ServiceError("redis-server not found: apt-get install redis-server (make demo does it)")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="faceqa-redis-") as workdir:
        process = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", workdir, "--protected-mode", "yes"],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
        )
        url = f"redis://127.0.0.1:{port}/0"
        try:
            _wait_for_redis(url, process, timeout)
            yield url
        finally:
            process.terminate()
            process.wait(timeout=10)


def _wait_for_redis(url: str, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    client = redis.Redis.from_url(url)
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServiceError(f"redis-server exited with code {process.returncode}")
        with contextlib.suppress(redis.ConnectionError):
            if client.ping():
                return
        time.sleep(0.1)
    raise ServiceError(f"redis-server did not answer on {url} within {timeout:g} s")


def worker_command(concurrency: int, queues: str = "cpu,gpu", hostname: str = "faceqa@%h") -> list[str]:
    """The argument list that starts a Celery worker of this project."""
    return [
        sys.executable, "-m", "celery", "-A", "qa_platform", "worker",
        "-Q", queues, "-c", str(concurrency), "-n", hostname, "--loglevel", "WARNING",
        "--without-gossip", "--without-mingle", "--without-heartbeat",
    ]


@contextlib.contextmanager
def celery_worker(broker_url: str, concurrency: int = 2, env: dict | None = None,
                  log_path: Path | None = None, timeout: float = 60.0):
    """Run a Celery worker process against ``broker_url``; yield the ``Popen``.

    Waits until the worker answers a ping. Its output goes to ``log_path``
    (or is discarded). The worker runs in its own process group so that all
    its pool processes stop with it.
    """
    environment = {**os.environ, **(env or {}), "CELERY_BROKER_URL": broker_url}
    log = open(log_path, "ab") if log_path else subprocess.DEVNULL
    process = subprocess.Popen(
        worker_command(concurrency), cwd=BASE_DIR, env=environment,
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        wait_for_worker(broker_url, process, timeout)
        yield process
    finally:
        stop_process_group(process)
        if log_path:
            log.close()


def wait_for_worker(broker_url: str, process: subprocess.Popen, timeout: float) -> None:
    """Block until a worker answers a ping on ``broker_url``."""
    from celery import Celery

    probe = Celery(broker=broker_url)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise ServiceError(f"the Celery worker exited with code {process.returncode}")
            if probe.control.ping(timeout=1.0):
                return
        raise ServiceError(f"the Celery worker did not answer within {timeout:g} s")
    finally:
        probe.close()


def stop_process_group(process: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 30.0) -> None:
    """Send ``sig`` to the process's group and wait; SIGKILL if it does not stop."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
