"""Django settings for FaceQA.

Every value that differs between machines is read from an environment variable
with a loopback-only default, so a fresh clone runs as it is.
"""
import os
from pathlib import Path

from qa_platform.core.arguments import comma_list

BASE_DIR = Path(__file__).resolve().parent.parent
# Created by the project app when Django starts (qa_platform.apps), not here: settings have no side effects.
DATA_DIR = Path(os.environ.get("FACEQA_DATA_DIR", BASE_DIR / "data")).resolve()

# Secure by default: DEBUG only when asked for (`make demo` asks, for its loopback server). With
# DEBUG off the production server (qa_platform.wsgi) refuses to start without a real secret key.
DEV_SECRET_KEY = "dev-only-not-secret"
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", DEV_SECRET_KEY)
DEBUG = os.environ.get("DJANGO_DEBUG", "0") == "1"
ALLOWED_HOSTS = comma_list(os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost"))
# Behind a TLS proxy: the origins a POST may come from (https://faceqa.example.org), the header
# the proxy sets, HTTPS only (redirect, secure cookies) and HSTS. `manage.py check --deploy` lists
# what is missing.
CSRF_TRUSTED_ORIGINS = comma_list(os.environ.get("DJANGO_CSRF_TRUSTED_ORIGINS"))
HTTPS = os.environ.get("DJANGO_TLS_PROXY") == "1"
if HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = os.environ.get("DJANGO_SSL_REDIRECT", "1" if HTTPS else "0") == "1"
# Secure cookies wherever the site is known to be HTTPS (a browser drops them on plain http).
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = os.environ.get("DJANGO_SECURE_COOKIES", "1" if HTTPS else "0") == "1"
# The participant pages run inside MTurk's frame (studies.views.framing), where the session cookie
# is a third-party cookie: a browser sends it there only when it is SameSite=None, which it
# accepts only with Secure. Lax where cookies are not secure (plain-http loopback). The flow does
# not need the cookie (the URL token is the credential); it lets a worker resume in the same
# browser. The CSRF cookie stays Lax: the participant pages do not use it.
SESSION_COOKIE_SAMESITE = os.environ.get("DJANGO_SESSION_COOKIE_SAMESITE",
                                         "None" if SESSION_COOKIE_SECURE else "Lax")
SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_HSTS_SECONDS", "0"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = os.environ.get("DJANGO_HSTS_INCLUDE_SUBDOMAINS", "0") == "1"
SECURE_HSTS_PRELOAD = os.environ.get("DJANGO_HSTS_PRELOAD", "0") == "1"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "qa_platform",
    "qa_platform.core",
    "metrics",
    "studies",
    "training",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Static files (trial.js, plotly) under gunicorn, from STATIC_ROOT (collectstatic).
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, so that its process_exception sees a view's database errors first.
    "qa_platform.middleware.DatabaseUnavailableMiddleware",
]

ROOT_URLCONF = "qa_platform.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "qa_platform.wsgi.application"


def postgres_database(environ) -> dict:
    """The DATABASES entry for the PostgreSQL server that ``POSTGRES_*`` in ``environ`` name
    (also used by the load test to reach its scratch database)."""
    return {
        "ENGINE": "django.db.backends.postgresql",
        "HOST": environ["POSTGRES_HOST"],
        "PORT": environ.get("POSTGRES_PORT", "5432"),
        "NAME": environ.get("POSTGRES_DB", "faceqa"),
        "USER": environ.get("POSTGRES_USER", "faceqa"),
        "PASSWORD": environ.get("POSTGRES_PASSWORD", "faceqa"),
        # One connection per process, checked before reuse: after a PostgreSQL
        # restart a request reconnects instead of failing on a dead socket.
        "CONN_MAX_AGE": 60,
        "CONN_HEALTH_CHECKS": True,
    }


if os.environ.get("POSTGRES_HOST"):
    DATABASES = {"default": postgres_database(os.environ)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "db.sqlite3",
            # WAL lets the web server read while workers write; IMMEDIATE
            # transactions take the write lock up front instead of failing
            # with "database is locked" on upgrade.
            "OPTIONS": {
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 30,
            },
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# collectstatic's folder, served by WhiteNoise; an image collects into its own (docker/Dockerfile).
STATIC_ROOT = Path(os.environ.get("DJANGO_STATIC_ROOT", DATA_DIR / "static"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}


def _plotly_js_dir() -> Path:
    # plotly.min.js ships inside the plotly wheel; served from there (no CDN).
    import plotly

    return Path(plotly.__file__).parent / "package_data"


STATICFILES_DIRS = [("plotly", _plotly_js_dir())]
MEDIA_URL = "media/"

# Codec plugin folders (see DESIGN.md): the repository's codecs/ first, then
# any extra folders a lab keeps outside the repository (os.pathsep-separated).
CODEC_PLUGIN_DIRS = [BASE_DIR / "codecs"] + [
    Path(p) for p in os.environ.get("FACEQA_CODEC_DIRS", "").split(os.pathsep) if p
]

# Where torchvision and piq look for backbone weights (DESIGN.md, "Model weights"). They read
# the environment variable TORCH_HOME, which the project app sets to this when Django starts
# (qa_platform.apps) unless it is set already.
TORCH_HOME = Path(os.environ.get("TORCH_HOME", DATA_DIR / "torch")).resolve()

# The stages of a PVS job, in order: Celery task names taking the PVS id (and
# the stage's keyword arguments). A queue of "codec" means the codec's device
# queue (cpu or gpu). The metrics are split by device: dlib and the classic
# metrics (and libvmaf's VMAF) on a cpu worker, the deep ones (LPIPS, DISTS, vmaf-torch) on a gpu worker.
FACEQA_PVS_STAGES = [
    {"task": "qa_platform.pvs_code", "queue": "codec"},
    {"task": "metrics.pvs_metrics", "queue": "cpu", "kwargs": {"stage": "cpu"}},
    {"task": "metrics.pvs_metrics", "queue": "gpu", "kwargs": {"stage": "gpu"}},
]

CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "cpu"
CELERY_TASK_CREATE_MISSING_QUEUES = True
CELERY_TASK_ALWAYS_EAGER = os.environ.get("CELERY_TASK_ALWAYS_EAGER", "0") == "1"
CELERY_TASK_EAGER_PROPAGATES = True
# An unacknowledged job message (its worker was killed) goes back to the queue
# after this many seconds; a second delivery of a job whose worker still beats
# is dropped (FACEQA_JOB_* below, qa_platform.core.lifecycle).
# Ten priority lists per queue in Redis (0 is served first): a PVS's later stages jump
# ahead of other PVSs' first stages, so jobs finish one by one and progress
# shows, instead of every PVS waiting in the metrics stage until the end.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": int(os.environ.get("FACEQA_VISIBILITY_TIMEOUT", "1800")),
    "priority_steps": list(range(10)),
}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# A job sent while the broker restarts (a Redis restart takes seconds) is retried for about a
# minute before the send fails; Celery's default gives up after 0.6 s.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 30, "interval_start": 0, "interval_step": 0.5, "interval_max": 2}

# The job lifecycle (qa_platform.core.lifecycle): a worker running a job step
# refreshes the job's heartbeat every FACEQA_JOB_HEARTBEAT_SECONDS; a job that
# missed FACEQA_JOB_STALE_BEATS beats counts as dead and may be claimed again,
# counting an attempt; a claim past FACEQA_JOB_MAX_ATTEMPTS ends it failed.
FACEQA_JOB_HEARTBEAT_SECONDS = float(os.environ.get("FACEQA_JOB_HEARTBEAT_SECONDS", "30"))
FACEQA_JOB_STALE_BEATS = int(os.environ.get("FACEQA_JOB_STALE_BEATS", "4"))
FACEQA_JOB_MAX_ATTEMPTS = int(os.environ.get("FACEQA_JOB_MAX_ATTEMPTS", "3"))

# Research data (the database, metrics, videos, votes, analyses, exports) is for staff only,
# except with DEBUG (the loopback demo) unless set otherwise.
FACEQA_OPEN_RESEARCHER_PAGES = os.environ.get("FACEQA_OPEN_RESEARCHER_PAGES", "1" if DEBUG else "0") == "1"
# Join attempts (consent posts) one address may make per minute, counted in the cache: Redis when
# DJANGO_CACHE_URL names one (several web processes then share the count), else per process.
FACEQA_JOINS_PER_MINUTE = int(os.environ.get("FACEQA_JOINS_PER_MINUTE", "30"))
# Crowd platforms that show the participant pages in a frame, MTurk's ExternalQuestion
# (studies.crowd): the origins that may frame them (CSP frame-ancestors; MTurk's worker site,
# the old one and the sandbox), and the servers a finished HIT may be submitted to (turkSubmitTo).
FACEQA_FRAME_ANCESTORS = comma_list(os.environ.get(
    "FACEQA_FRAME_ANCESTORS", "https://worker.mturk.com,https://www.mturk.com,https://workersandbox.mturk.com"))
FACEQA_MTURK_SUBMIT_ORIGINS = comma_list(os.environ.get(
    "FACEQA_MTURK_SUBMIT_ORIGINS", "https://www.mturk.com,https://workersandbox.mturk.com"))
if os.environ.get("DJANGO_CACHE_URL"):
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                          "LOCATION": os.environ["DJANGO_CACHE_URL"]}}
# How per-frame metric values become a PVS's value: mean, p5 or harmonic (metrics.pooling).
FACEQA_METRIC_POOLING = os.environ.get("FACEQA_METRIC_POOLING", "mean")


def _names(variable: str) -> list[str]:
    return comma_list(os.environ.get(variable))


# The metrics a PVS job computes (comma-separated names; empty: every registered
# metric), less those in FACEQA_JOB_SKIP_METRICS.
FACEQA_JOB_METRICS = _names("FACEQA_JOB_METRICS")
FACEQA_JOB_SKIP_METRICS = _names("FACEQA_JOB_SKIP_METRICS")
# Memory for the SRCs' reference-side work a worker keeps for the next PVS of the
# same SRC (metrics.features: decoded frames, YUV planes, tOF's flow, deep features), MiB.
FACEQA_FEATURE_CACHE_MB = int(os.environ.get("FACEQA_FEATURE_CACHE_MB", "1024"))
# The code's version where there is no git checkout to ask (a container image: docker/Dockerfile
# records the commit it was built from); stored with analyses and exports (studies.versions).
FACEQA_CODE_VERSION = os.environ.get("FACEQA_CODE_VERSION", "")
# Bootstrap resamples behind every confidence interval of the correlation dashboard.
FACEQA_BOOTSTRAP_RESAMPLES = int(os.environ.get("FACEQA_BOOTSTRAP_RESAMPLES", "1000"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("FACEQA_LOG_LEVEL", "WARNING")},
}
