"""A scratch database for the benchmarks (``benchmark_pages``, ``loadtest_study``): the user's own is never opened."""
import contextlib
from collections.abc import Iterator
from pathlib import Path

from django.core.management import call_command
from django.db import connections


def sqlite_database(folder: Path) -> dict:
    """The DATABASES entry of a new SQLite file in ``folder``."""
    return {"ENGINE": "django.db.backends.sqlite3", "NAME": str(folder / "scratch.sqlite3")}


@contextlib.contextmanager
def scratch_database(database: dict) -> Iterator[None]:
    """Point the default connection at ``database`` (a DATABASES entry: ``sqlite_database``, or
    ``postgres_database`` of the project settings for a scratch PostgreSQL database), migrated, for
    the duration of the block; the previous connection object and settings come back afterwards (so
    this also works inside a test's transaction)."""
    saved_settings, saved_connection = connections.settings["default"], connections["default"]
    connections.settings["default"] = {**saved_settings, "OPTIONS": {}, **database}
    connections["default"] = connections.create_connection("default")
    try:
        call_command("migrate", verbosity=0, interactive=False)
        yield
    finally:
        connections["default"].close()
        connections["default"] = saved_connection
        connections.settings["default"] = saved_settings
