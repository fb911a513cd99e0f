"""Fixtures of the studies tests: a small database of done PVSs, a study on it, no broker."""
import pytest
from django.core.cache import cache

from studies import services
from studies.tests.factories import make_database


@pytest.fixture
def database(db, data_dir):
    """3 SRCs x 2 HRCs, every PVS done with a playable browser copy."""
    return make_database(data_dir)


@pytest.fixture
def study(database):
    """An ACR-HR study: 6 PVSs and 3 hidden references, 3 training stimuli, a
    trap; each participant rates 5 PVSs and the 3 references; 3 votes per PVS."""
    return services.study_create(name="pilot", pvs=database, votes_per_pvs=3, trials_per_participant=5, seed=1)


@pytest.fixture(autouse=True)
def sent_jobs(monkeypatch):
    """The Celery tasks the studies app sends, as (task, first argument, countdown): recorded, never sent to a broker."""
    sent = []
    monkeypatch.setattr("studies.jobs._send", lambda model, job_id, task, args, task_id, countdown:
                        sent.append((task, args[0], countdown)))
    return sent


@pytest.fixture(autouse=True)
def fresh_join_counts():
    """Each test starts with no join attempts counted (studies.throttle keeps them in the cache)."""
    cache.clear()
