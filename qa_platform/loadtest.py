"""``manage.py loadtest_study``: crowd participants against the production server, set up here or running.

Without a URL everything is started here, on loopback, and removed at the
end: a throw-away PostgreSQL cluster with a scratch database (migrated, and
this process's connection pointed at it), a Redis for the Celery messages a
vote sends (no worker: the study's debounced analysis job is queued once and
waits), a scratch data directory with a study over short real clips
(``studies.loadtest.scratch_study_build``), the static files collected into a
scratch folder, and the production server (gunicorn, DEBUG off, a random
secret key) with the join limit raised, since every simulated participant
comes from 127.0.0.1. The user's database and data directory are never
opened. The participants (``studies.loadtest``) then run against it, and
the stored votes are counted in the scratch database.
"""
import secrets
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from django.core.management import call_command
from django.test import override_settings

from qa_platform import runtime
from qa_platform.samples import SHARED_FACES
from qa_platform.settings import postgres_database
from studies.loadtest import (
    SCRATCH_CLIPS,
    LoadReport,
    LoadTestError,
    Plan,
    run_against,
    scratch_study_build,
)
from studies.scratch import scratch_database

STUDY_NAME = "loadtest"
# Joins a minute one address may make on the scratch server (the default, 30, would refuse a crowd from 127.0.0.1).
SCRATCH_JOINS_PER_MINUTE = 1_000_000
# gunicorn's sync workers, as the compose file runs the web server (docker/compose.yaml).
DEFAULT_WORKERS = 3
LOG_TAIL_CHARS = 3000


def _server_env(database: dict[str, str], broker_url: str, data_dir: Path, static_root: Path) -> dict[str, str]:
    """The production settings of the scratch server; whatever this process's environment says
    about DEBUG, the database, the cache or the proxy is replaced."""
    return {
        **database,
        "DJANGO_DEBUG": "0", "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost", "DJANGO_STATIC_ROOT": str(static_root),
        "DJANGO_CACHE_URL": "", "DJANGO_TLS_PROXY": "0", "DJANGO_CSRF_TRUSTED_ORIGINS": "",
        "FACEQA_DATA_DIR": str(data_dir), "FACEQA_JOINS_PER_MINUTE": str(SCRATCH_JOINS_PER_MINUTE),
        "CELERY_BROKER_URL": broker_url, "CELERY_TASK_ALWAYS_EAGER": "0", "OMP_NUM_THREADS": "1",
    }


def _clips(clips_dir: Path) -> list[Path]:
    paths = [clips_dir / name for name in SCRATCH_CLIPS]
    missing = [str(path) for path in paths if not path.is_file()]
    if missing:
        raise LoadTestError(f"the scratch study needs the real clips {', '.join(missing)} (../shared/faces); "
                            "or run against a running server with --url and --study")
    return paths


def run_loadtest(plan: Plan, *, url: str | None = None, study: str | None = None, workers: int = DEFAULT_WORKERS,
                 clips_dir: Path = SHARED_FACES, progress: Callable[[str], None] = lambda line: None) -> LoadReport:
    """Run ``plan``: against ``url`` and ``study`` when given (a running stack, loopback only; the stored
    votes are counted in the database this process's settings name), else against a scratch stack set up
    here (see the module docstring) with ``workers`` gunicorn workers. Raises ``LoadTestError`` or
    ``runtime.ServiceError`` with what to do."""
    if url or study:
        if not (url and study):
            raise LoadTestError("--url and --study go together (a running server and the study to rate)")
        progress(f"{plan.participants} participants against {url}, study {study}")
        return run_against(url.rstrip("/"), study, plan)
    if not 1 <= workers <= 32:
        raise LoadTestError(f"--workers must be 1..32, not {workers}")
    clips = _clips(clips_dir)
    started = time.monotonic()
    with (tempfile.TemporaryDirectory(prefix="faceqa-loadtest-") as tmp, runtime.postgres_server() as postgres,
          runtime.redis_server() as broker_url):
        folder = Path(tmp)
        data_dir, static_root, log_path = folder / "data", folder / "static", folder / "gunicorn.log"
        data_dir.mkdir()
        database = postgres.create_database(STUDY_NAME)
        with (scratch_database(postgres_database(database)),
              override_settings(DATA_DIR=data_dir, STATIC_ROOT=static_root)):
            progress(f"scratch PostgreSQL on 127.0.0.1:{postgres.port}, Redis at {broker_url}, data in {folder}")
            scratch_study_build(name=STUDY_NAME, clips=clips, seed=plan.seed, progress=progress)
            call_command("collectstatic", interactive=False, verbosity=0)
            env = _server_env(database, broker_url, data_dir, static_root)
            with runtime.gunicorn_server(env, workers=workers, log_path=log_path) as base_url:
                progress(f"gunicorn ({workers} sync workers, DEBUG off) at {base_url}; set up in "
                         f"{time.monotonic() - started:.0f} s; {plan.participants} participants for "
                         f"{plan.seconds:g} s")
                notes = [(f"scratch server: gunicorn with {workers} sync workers, PostgreSQL and Redis on this "
                          f"machine, FACEQA_JOINS_PER_MINUTE raised to {SCRATCH_JOINS_PER_MINUTE} (all "
                          "participants come from 127.0.0.1); the load generator runs on the same CPUs")]
                report = run_against(base_url, STUDY_NAME, plan, notes)
            if not report.ok:
                progress(f"the server's log ends with:\n{log_path.read_text(errors='replace')[-LOG_TAIL_CHARS:]}")
    return report
