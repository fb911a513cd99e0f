"""Start the services a demo or an integration test needs, on loopback only. Django-free.

``redis_server()`` runs Debian's ``redis-server`` on a free port;
``postgres_server()`` a throw-away PostgreSQL cluster; ``celery_worker()`` one
worker process for the ``cpu`` and ``gpu`` queues; ``gunicorn_server()`` the
production web server. Each stops what it started
when the ``with`` block ends.
"""
import contextlib
import http.client
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import redis
from psycopg import sql

BASE_DIR = Path(__file__).resolve().parent.parent


class ServiceError(RuntimeError):
    """A service could not be started; the message says what to install or check."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """Debian's ``redis-server`` on 127.0.0.1, in a folder of its own; ``kill()`` and ``start()`` again.

    ``appendonly=True`` writes every command to the append-only file before
    answering (``appendfsync always``), so queued jobs survive a SIGKILL, as
    with the compose file's Redis.
    """

    def __init__(self, workdir: Path, appendonly: bool = False, timeout: float = 10.0):
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            raise ServiceError("redis-server not found: apt-get install redis-server (make demo does it)")
        self.workdir, self.appendonly, self.timeout = workdir, appendonly, timeout
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        persistence = ["--appendonly", "yes", "--appendfsync", "always"] if self.appendonly else ["--appendonly", "no"]
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", *persistence,
             "--dir", str(self.workdir), "--protected-mode", "yes"],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True,
        )
        _wait_for_redis(self.url, self.process, self.timeout)

    def kill(self) -> None:
        """SIGKILL, as a crash or the OOM killer would: no shutdown save."""
        self.process.kill()
        self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


@contextlib.contextmanager
def redis_server(timeout: float = 10.0, appendonly: bool = False):
    """Run redis-server on 127.0.0.1 and a free port; yield its URL (``redis://…/0``)."""
    with running_redis(timeout, appendonly) as server:
        yield server.url


@contextlib.contextmanager
def running_redis(timeout: float = 10.0, appendonly: bool = False):
    """Run redis-server on 127.0.0.1 and a free port; yield the ``RedisServer``."""
    with tempfile.TemporaryDirectory(prefix="faceqa-redis-") as workdir:
        server = RedisServer(Path(workdir), appendonly, timeout)
        server.start()
        try:
            yield server
        finally:
            server.stop()


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


def postgres_bin_dir() -> Path:
    """The folder of Debian's PostgreSQL server programs (initdb, postgres, pg_ctl), newest version."""
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    if not candidates:
        raise ServiceError("PostgreSQL not found: apt-get install postgresql (make test and make serve do it)")
    return candidates[-1].parent


class PostgresServer:
    """A PostgreSQL cluster of this project's own on 127.0.0.1 and a free port, in ``workdir``.

    The first start runs initdb; the superuser ``faceqa`` gets a random
    password (scram-sha-256), kept in ``workdir/../<name>.password`` (mode
    0600), so other users of the machine cannot connect and a later start
    finds the cluster again. As root the server runs as Debian's ``postgres``
    user, because PostgreSQL refuses to run as root. ``stop("immediate")`` is a
    crash without a checkpoint; ``start()`` runs crash recovery on the same data.
    """

    user = "faceqa"

    def __init__(self, workdir: Path, timeout: float = 30.0):
        self.bin_dir = postgres_bin_dir()
        self.workdir, self.timeout = workdir, timeout
        self.data_dir = workdir / "cluster"
        self.port = free_port()
        self.run_as = "postgres" if os.geteuid() == 0 else None
        password_file = workdir.parent / f"{workdir.name}.password"
        workdir.mkdir(parents=True, exist_ok=True)
        if self.run_as:
            _check_traversable(workdir.parent.resolve(), self.run_as)
            shutil.chown(workdir, self.run_as)
        if (self.data_dir / "PG_VERSION").is_file():
            self.password = password_file.read_text()
        else:
            self.password = secrets.token_urlsafe(24)
            password_file.touch(mode=0o600)
            password_file.write_text(self.password)
            self._initdb()

    def _run(self, *args: str) -> None:
        # A session of its own: Ctrl-C in the terminal reaches the caller, which stops the server in order.
        result = subprocess.run(args, check=False, user=self.run_as, capture_output=True, text=True,
                                cwd=self.workdir, start_new_session=True)
        if result.returncode != 0:
            raise ServiceError(f"{Path(args[0]).name} failed: {(result.stderr or result.stdout).strip()[-500:]}")

    def _initdb(self) -> None:
        # initdb reads the password from a file the server's user can read; it is gone afterwards.
        initdb_password = self.workdir / "initdb-password"
        initdb_password.write_text(self.password)
        if self.run_as:
            shutil.chown(initdb_password, self.run_as)
        try:
            self._run(str(self.bin_dir / "initdb"), "-D", str(self.data_dir), "-U", self.user,
                      "--pwfile", str(initdb_password), "--auth", "scram-sha-256", "--encoding", "UTF8",
                      "--locale", "C", "--no-sync")
        finally:
            initdb_password.unlink()

    def start(self) -> None:
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.workdir} -c fsync=on -c max_connections=300"
        self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-l", str(self.workdir / "server.log"),
                  "-o", options, "-w", "-t", str(int(self.timeout)), "start")

    def stop(self, mode: str = "fast") -> None:
        """``mode``: pg_ctl's shutdown mode, ``fast`` (clean) or ``immediate`` (as a crash)."""
        self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", mode, "-w", "stop")

    def env(self, database: str = "postgres") -> dict[str, str]:
        """The environment that points this project's settings at ``database`` on this server."""
        return {"POSTGRES_HOST": "127.0.0.1", "POSTGRES_PORT": str(self.port), "POSTGRES_DB": database,
                "POSTGRES_USER": self.user, "POSTGRES_PASSWORD": self.password}

    def connect(self, database: str = "postgres") -> psycopg.Connection:
        """A connection (autocommit) to ``database`` as the superuser; use it in a ``with`` block."""
        return psycopg.connect(host="127.0.0.1", port=self.port, user=self.user, password=self.password,
                               dbname=database, autocommit=True)

    def create_database(self, name: str, exist_ok: bool = False) -> dict[str, str]:
        """Create an empty database ``name`` (with ``exist_ok``, unless it exists); return ``env(name)``."""
        with self.connect() as connection:
            exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if not (exist_ok and exists):
                connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.env(name)


def _check_traversable(folder: Path, user: str) -> None:
    """Raise ``ServiceError`` unless ``user`` (not root, not the owner) may pass through every folder up to ``folder``."""
    for part in (folder, *folder.parents):
        if not part.stat().st_mode & 0o001:
            raise ServiceError(f"the {user} user that runs PostgreSQL cannot pass through {part} (mode "
                               f"{part.stat().st_mode & 0o777:o}): chmod o+x it, or put the data directory elsewhere")


@contextlib.contextmanager
def postgres_server(timeout: float = 30.0):
    """Run a fresh PostgreSQL cluster on 127.0.0.1 and a free port; yield the ``PostgresServer``.

    The cluster and its data are removed when the block ends.
    """
    with tempfile.TemporaryDirectory(prefix="faceqa-postgres-") as workdir:
        Path(workdir).chmod(0o711)  # the server's user passes through to its own folder, reads nothing here
        server = PostgresServer(Path(workdir) / "postgres", timeout)
        server.start()
        try:
            yield server
        finally:
            with contextlib.suppress(ServiceError):
                server.stop("immediate")


# A worker's Celery node name (``-n``); ``%h`` is the machine's name.
WORKER_NODENAME = "faceqa@%h"


def worker_command(concurrency: int, queues: str = "cpu,gpu", hostname: str = WORKER_NODENAME) -> list[str]:
    """The argument list that starts a Celery worker of this project."""
    return [
        sys.executable, "-m", "celery", "-A", "qa_platform", "worker",
        "-Q", queues, "-c", str(concurrency), "-n", hostname, "--loglevel", "WARNING",
        "--without-gossip", "--without-mingle", "--without-heartbeat",
    ]


@contextlib.contextmanager
def celery_worker(broker_url: str, concurrency: int = 2, env: dict | None = None,
                  log_path: Path | None = None, timeout: float = 60.0,
                  hostname: str = WORKER_NODENAME, cwd: Path | None = None):
    """Run a Celery worker process against ``broker_url``; yield the ``Popen``.

    Waits until the worker answers a ping by its node name (``hostname``,
    Celery's ``-n``: give two workers on one machine names of their own).
    ``cwd``: its working directory, the repository by default; elsewhere the
    repository is put on ``PYTHONPATH``, as on a machine where the code and
    the data directory live apart. Its output goes to ``log_path`` (or is
    discarded). The worker runs in its own process group so that all its pool
    processes stop with it.
    """
    environment = {**os.environ, **(env or {}), "CELERY_BROKER_URL": broker_url}
    if cwd is not None:
        environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(BASE_DIR), environment.get("PYTHONPATH")]))
    log = open(log_path, "ab") if log_path else subprocess.DEVNULL
    process = subprocess.Popen(
        worker_command(concurrency, hostname=hostname), cwd=cwd or BASE_DIR, env=environment,
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        wait_for_worker(broker_url, process, timeout, hostname)
        yield process
    finally:
        stop_process_group(process)
        if log_path:
            log.close()


def wait_for_worker(broker_url: str, process: subprocess.Popen, timeout: float,
                    hostname: str = WORKER_NODENAME) -> None:
    """Block until the worker named ``hostname`` (``%h``: this machine's name) answers a ping on ``broker_url``."""
    from celery import Celery
    from celery.utils.nodenames import host_format

    probe = Celery(broker=broker_url)
    node = host_format(hostname)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise ServiceError(f"the Celery worker exited with code {process.returncode}")
            if probe.control.ping(destination=[node], timeout=1.0):
                return
        raise ServiceError(f"the Celery worker {node} did not answer within {timeout:g} s")
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


def gunicorn_command(port: int, workers: int) -> list[str]:
    """The argument list that starts this project's production server on 127.0.0.1:``port``.

    Without gunicorn's control socket: its default path (``~/.gunicorn/gunicorn.ctl``) is one per
    user, so two servers on one machine would take it from each other.
    """
    return [sys.executable, "-m", "gunicorn", "qa_platform.wsgi", "--bind", f"127.0.0.1:{port}",
            "--workers", str(workers), "--chdir", str(BASE_DIR), "--no-control-socket"]


@contextlib.contextmanager
def gunicorn_server(env: dict | None = None, port: int | None = None, workers: int = 3,
                    log_path: Path | None = None, timeout: float = 120.0):
    """Run the production server (``gunicorn qa_platform.wsgi``) on 127.0.0.1; yield its base URL.

    ``env`` is added to this process's environment (the settings read it:
    DJANGO_SECRET_KEY, POSTGRES_*, ...); ``port`` defaults to a free one.
    Waits until the server answers an HTTP request (any status). Its output
    goes to ``log_path`` (or is discarded). It runs in its own process group,
    so that its workers stop with it.
    """
    port = port or free_port()
    log = open(log_path, "ab") if log_path else subprocess.DEVNULL
    process = subprocess.Popen(
        gunicorn_command(port, workers), cwd=BASE_DIR, env={**os.environ, **(env or {})},
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        _wait_for_http("127.0.0.1", port, process, timeout, log_path)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process_group(process)
        if log_path:
            log.close()


def _wait_for_http(host: str, port: int, process: subprocess.Popen, timeout: float, log_path: Path | None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log_path.read_text(errors="replace")[-1500:] if log_path else "(no log kept)"
            raise ServiceError(f"gunicorn exited with code {process.returncode}: {tail}")
        connection = http.client.HTTPConnection(host, port, timeout=5)
        try:
            connection.request("GET", "/", headers={"Host": f"{host}:{port}"})
            connection.getresponse().read()
            return
        except OSError:
            time.sleep(0.2)
        finally:
            connection.close()
    raise ServiceError(f"gunicorn did not answer on {host}:{port} within {timeout:g} s")
