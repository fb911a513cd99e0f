"""``make serve``: the production stack on loopback, with production settings. Django-free.

PostgreSQL (a cluster of this project's own in ``DATA_DIR/postgres``), Redis
with append-only persistence (``DATA_DIR/redis``), one Celery worker and
gunicorn on 127.0.0.1, all started here and stopped by Ctrl-C. DEBUG is off;
the secret key comes from ``DJANGO_SECRET_KEY`` or is made once and kept in
``DATA_DIR/secret_key`` (mode 0600). ``DATA_DIR/serve.env`` (mode 0600) holds
the environment that points ``manage.py`` at this stack, e.g. to create the
staff user: ``set -a; . data/serve.env; set +a; .venv/bin/python manage.py createsuperuser``.
"""
import argparse
import contextlib
import os
import secrets
import shlex
import signal
import subprocess
import sys
from pathlib import Path

from qa_platform import runtime

DATABASE = "faceqa"


def secret_key(data_dir: Path) -> str:
    """DJANGO_SECRET_KEY, or the key kept in ``data_dir/secret_key`` (made on the first call)."""
    if os.environ.get("DJANGO_SECRET_KEY"):
        return os.environ["DJANGO_SECRET_KEY"]
    path = data_dir / "secret_key"
    if not path.is_file():
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(50))
    return path.read_text().strip()


def production_env(data_dir: Path, database: dict[str, str], broker_url: str) -> dict[str, str]:
    """The environment of every process of the stack: production settings on loopback."""
    return {
        **database, "DJANGO_DEBUG": "0", "DJANGO_SECRET_KEY": secret_key(data_dir),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost", "FACEQA_DATA_DIR": str(data_dir),
        "DJANGO_STATIC_ROOT": str(data_dir / "static"), "CELERY_BROKER_URL": broker_url,
        # The join rate limit and the cache are shared by gunicorn's processes through Redis (db 1).
        "DJANGO_CACHE_URL": broker_url.rsplit("/", 1)[0] + "/1",
    }


def write_env_file(path: Path, env: dict[str, str]) -> None:
    path.touch(mode=0o600)
    path.write_text("".join(f"{name}={shlex.quote(value)}\n" for name, value in sorted(env.items())))


def manage(env: dict[str, str], *args: str) -> None:
    """Run ``manage.py args`` with ``env``; raise ``ServiceError`` with its output when it fails."""
    result = subprocess.run([sys.executable, "manage.py", *args], check=False, cwd=runtime.BASE_DIR,
                            env={**os.environ, **env}, capture_output=True, text=True)
    if result.returncode != 0:
        raise runtime.ServiceError(f"manage.py {args[0]} failed:\n{result.stdout}{result.stderr}")


def serve(data_dir: Path, port: int, web_workers: int, concurrency: int) -> None:
    """Start the stack, migrate, collect the static files and serve until interrupted."""
    # A process started in the background by a non-interactive shell (`make serve &`, nohup) inherits
    # SIGINT ignored, and Python then installs no KeyboardInterrupt handler: restore it so that
    # Ctrl-C or `kill -INT` always stops the stack.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    data_dir.mkdir(parents=True, exist_ok=True)
    logs = data_dir / "logs"
    logs.mkdir(exist_ok=True)
    postgres = runtime.PostgresServer(data_dir / "postgres")
    redis_dir = data_dir / "redis"
    redis_dir.mkdir(exist_ok=True)
    redis = runtime.RedisServer(redis_dir, appendonly=True)
    with contextlib.ExitStack() as stack:
        postgres.start()
        stack.callback(postgres.stop)
        redis.start()
        stack.callback(redis.stop)
        env = production_env(data_dir, postgres.create_database(DATABASE, exist_ok=True), redis.url)
        write_env_file(data_dir / "serve.env", env)
        print("migrating and collecting static files…", flush=True)
        manage(env, "migrate", "--noinput")
        manage(env, "collectstatic", "--noinput")
        stack.enter_context(runtime.celery_worker(redis.url, concurrency=concurrency, env=env,
                                                  log_path=logs / "worker.log"))
        url = stack.enter_context(runtime.gunicorn_server(env=env, port=port, workers=web_workers,
                                                          log_path=logs / "gunicorn.log"))
        print(f"FaceQA (production settings) at {url}/ — PostgreSQL :{postgres.port}, Redis :{redis.port}, "
              f"{web_workers} gunicorn workers, 1 Celery worker ({concurrency} processes); logs in {logs}\n"
              f"manage.py against this stack: set -a; . {data_dir / 'serve.env'}; set +a; "
              f"{sys.executable} manage.py createsuperuser\nCtrl-C stops everything.", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make serve", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("FACEQA_DATA_DIR", "data")).resolve())
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--web-workers", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=2, help="Celery worker processes")
    args = parser.parse_args(argv)
    try:
        serve(args.data_dir, args.port, args.web_workers, args.concurrency)
    except runtime.ServiceError as error:
        print(f"make serve: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
