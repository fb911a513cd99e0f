"""Fixtures shared by every test layer.

``FACEQA_TEST_DATABASE=postgresql`` runs the session against a throw-away
PostgreSQL cluster on loopback (``make test`` does so for the integration and
browser layers); by default the tests use SQLite.
"""
import contextlib
import os
import uuid
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from qa_platform import runtime

REPO_DIR = Path(__file__).resolve().parent
REPO_CODECS = REPO_DIR / "codecs"
FACES_DIR = REPO_DIR.parent / "shared" / "faces"


# Fixtures whose tests are slow (they read real clips, run dlib on them, or train a network):
# such a test is marked `slow` and runs in `make test`, not in `make test-unit`.
TEST_DATABASE = os.environ.get("FACEQA_TEST_DATABASE", "sqlite")
if TEST_DATABASE not in ("sqlite", "postgresql"):
    raise pytest.UsageError(f"FACEQA_TEST_DATABASE={TEST_DATABASE!r}: use sqlite or postgresql")

SLOW_FIXTURES = frozenset({"faces_dir", "face_clip", "face_src", "tiny_checkpoint"})


def pytest_collection_modifyitems(items):
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def postgres():
    """The session's PostgreSQL server (``runtime.PostgresServer``), or None when the tests use SQLite."""
    if TEST_DATABASE != "postgresql":
        yield None
        return
    with runtime.postgres_server() as server:
        yield server


@pytest.fixture(scope="session")
def django_db_modify_db_settings(postgres):
    """Point Django's default database at the session's PostgreSQL server (pytest-django's hook)."""
    if postgres is None:
        return
    from django.conf import settings
    from django.db import connections

    env = postgres.env("postgres")
    settings.DATABASES["default"].update({
        "ENGINE": "django.db.backends.postgresql", "HOST": env["POSTGRES_HOST"], "PORT": env["POSTGRES_PORT"],
        "NAME": "faceqa", "USER": env["POSTGRES_USER"], "PASSWORD": env["POSTGRES_PASSWORD"], "OPTIONS": {},
    })
    connections.close_all()
    with contextlib.suppress(AttributeError):  # a wrapper made before this hook keeps its old engine
        del connections["default"]


@pytest.fixture
def stack_database(postgres) -> dict[str, str]:
    """The environment of a fresh, empty database for processes a test starts: a new PostgreSQL
    database on the session's server, or ``{}`` (SQLite in the test's data directory)."""
    if postgres is None:
        return {}
    return postgres.create_database(f"stack_{uuid.uuid4().hex[:12]}")


@pytest.fixture(autouse=True)
def open_researcher_pages(settings):
    """The researcher pages open to anyone, as on the loopback demo: a test of access closes them."""
    settings.FACEQA_OPEN_RESEARCHER_PAGES = True


@pytest.fixture
def faces_dir() -> Path:
    """../shared/faces (real talking-head clips); the test is skipped where it is absent."""
    if not FACES_DIR.is_dir():
        pytest.skip("../shared/faces is absent")
    return FACES_DIR


@pytest.fixture
def data_dir(tmp_path, settings) -> Path:
    """A fresh data directory for the test (settings.DATA_DIR)."""
    settings.DATA_DIR = tmp_path / "data"
    settings.DATA_DIR.mkdir()
    return settings.DATA_DIR


def synthetic_frames(t: int = 10, size: int = 64, seed: int = 0) -> np.ndarray:
    """A small moving test pattern: uint8 (T, size, size, 3), RGB."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size]
    base = rng.integers(0, 255, size=3)
    frames = np.empty((t, size, size, 3), dtype=np.uint8)
    for i in range(t):
        frames[i, ..., 0] = (x * 4 + i * 3 + base[0]) % 256
        frames[i, ..., 1] = (y * 4 + base[1]) % 256
        frames[i, ..., 2] = ((x + y) * 2 + i * 5 + base[2]) % 256
    return frames


@pytest.fixture
def small_clip():
    """(frames uint8 (10, 64, 64, 3), fps 25)."""
    return synthetic_frames(), Fraction(25)


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic",
]


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium (Debian's), shared by the tests of this module."""
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} is absent")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread, where the ORM runs too.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            yield chromium
            chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    yield context.new_page()
    context.close()
