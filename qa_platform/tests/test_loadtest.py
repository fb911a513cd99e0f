"""manage.py loadtest_study, short, on its own scratch stack: real PostgreSQL, Redis, gunicorn, real clips.

The speed target (vote POST p95 under 50 ms with 200 participants) is a benchmark, not asserted here:
this checks that no vote is duplicated or lost and that nothing fails."""
import re

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from qa_platform import runtime
from studies.models import Study


@pytest.fixture
def postgres_installed():
    try:
        runtime.postgres_bin_dir()
    except runtime.ServiceError as error:
        pytest.skip(str(error))


@pytest.mark.integration
def test_ten_participants_lose_and_duplicate_no_vote(db, faces_dir, postgres_installed, capsys):
    call_command("loadtest_study", "--participants", "10", "--seconds", "8", "--think", "0.3",
                 "--double-share", "0.3", "--retry-share", "0.2")
    out = capsys.readouterr().out.splitlines()
    counts = re.fullmatch(r"votes: acknowledged (\d+), stored (\d+), duplicated (\d+), lost (\d+)", out[-1])
    acknowledged, stored, duplicated, lost = map(int, counts.groups())
    assert acknowledged > 0 and stored >= acknowledged
    assert duplicated == 0 and lost == 0
    assert "errors: 0" in out
    vote_row = next(line for line in out if line.startswith("vote POST"))
    assert int(vote_row.split()[2]) >= acknowledged  # every acknowledged vote was timed
    assert not Study.objects.exists()  # the scratch database, not this one


def test_a_url_off_this_machine_is_refused(db):
    with pytest.raises(CommandError, match="this machine only"):
        call_command("loadtest_study", "--url", "http://192.0.2.1:8000", "--study", "demo")


def test_url_and_study_go_together(db):
    with pytest.raises(CommandError, match="go together"):
        call_command("loadtest_study", "--url", "http://127.0.0.1:8000")
