"""The optional parts' warnings (codec programs, metric weights) are shown when asked, not before every command."""
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.checks import Warning as CheckWarning
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from qa_platform.core import optional_parts
from qa_platform.core.optional_parts import format_messages, optional_part_messages

REPO_DIR = Path(__file__).resolve().parents[3]
OPTIONAL_IDS = ("qa_platform.W002", "metrics.W001")


@pytest.fixture
def repo_codecs(settings):
    """The repository's codec folder: its manifest codecs (vtm, vvenc, ...) cannot run on this machine."""
    settings.CODEC_PLUGIN_DIRS = [REPO_DIR / "codecs"]


def _output(command: str, *args, **options) -> str:
    """stdout and stderr of ``command``; ``skip_checks=False`` runs the system checks first, as ``manage.py`` does."""
    out, err = StringIO(), StringIO()
    call_command(command, *args, stdout=out, stderr=err, **options)
    return out.getvalue() + err.getvalue()


class TestOptionalPartMessages:
    def test_every_part_contributes_its_warnings(self, repo_codecs):
        ids = {message.id for message in optional_part_messages()}
        assert ids == set(OPTIONAL_IDS)  # metrics.W001: no weights in the tests' empty TORCH_HOME
        assert {message.id for message in optional_part_messages("codecs")} == {"qa_platform.W002"}
        assert {message.id for message in optional_part_messages("weights")} == {"metrics.W001"}

    def test_an_unknown_part_is_an_error(self):
        with pytest.raises(KeyError):
            optional_part_messages("no-such-part")

    def test_format_is_that_of_manage_py_check_or_one_line_each(self):
        message = CheckWarning("codec 'x' is unavailable.", hint="Install x.", obj="codecs/x.toml", id="app.W009")
        assert format_messages([message]) == "codecs/x.toml: (app.W009) codec 'x' is unavailable.\n\tHINT: Install x."
        assert format_messages([message, message], hints=False).splitlines() == [
            "(app.W009) codec 'x' is unavailable."] * 2

    def test_the_django_check_is_silent_outside_manage_py_check(self, repo_codecs):
        assert optional_parts.optional_parts_check(None) == []
        with optional_parts.included_in_system_checks():
            assert {message.id for message in optional_parts.optional_parts_check(None)} == set(OPTIONAL_IDS)
        assert optional_parts.optional_parts_check(None) == []


@pytest.mark.django_db
class TestCommands:
    def test_other_commands_do_not_print_them(self, repo_codecs):
        output = _output("showmigrations", "metrics", skip_checks=False)
        assert "0001_initial" in output
        assert not any(check_id in output for check_id in OPTIONAL_IDS), output

    def test_manage_py_check_lists_them_with_ids_and_hints(self, repo_codecs):
        output = _output("check")
        assert all(check_id in output for check_id in OPTIONAL_IDS), output
        assert "HINT: Run `python manage.py fetch_weights`" in output
        assert "codec 'vtm' is unavailable" in output

    def test_list_codecs_prints_the_codec_warnings(self, repo_codecs):
        output = _output("list_codecs", skip_checks=False)
        assert "(qa_platform.W002) codec 'vvenc' is unavailable: program 'vvencapp' not found on PATH" in output
        assert "metrics.W001" not in output

    def test_errors_still_stop_every_command(self, settings):
        settings.FACEQA_JOB_METRICS = ["vmaff"]
        with pytest.raises(SystemCheckError, match="metrics.E001"):
            _output("showmigrations", "metrics", skip_checks=False)


@pytest.mark.slow  # spawns Django in processes of their own
def test_manage_py_opens_with_the_command_output_not_warnings():
    def run(*args):
        return subprocess.run([sys.executable, "manage.py", *args], cwd=REPO_DIR, capture_output=True, text=True,
                              timeout=300)

    shown = run("showmigrations", "metrics")
    assert shown.returncode == 0 and shown.stderr == "", shown.stderr
    assert shown.stdout.splitlines()[0] == "metrics"
    checked = run("check")
    assert "qa_platform.W002" in checked.stderr and "System check identified" in checked.stdout + checked.stderr


def test_the_demo_opens_with_them_one_short_line_each(repo_codecs):
    from metrics.summary import TABLE_WIDTH
    from qa_platform.demo import _optional_parts_text

    lines = _optional_parts_text().splitlines()
    count = len(optional_part_messages())
    assert lines[0] == f"Not installed here ({count}; the hints: `python manage.py check`):"
    assert len(lines) == 1 + count and max(map(len, lines)) <= TABLE_WIDTH
    assert lines[1].startswith("  (qa_platform.W002) codec 'example-research-gfvc' is unavailable")
    assert any(line.startswith("  (metrics.W001) dists will be reported unavailable") for line in lines)
