"""Downloads of weight files, with the network replaced by bytes served from memory (no test goes online)."""
import hashlib
import io
import socket
import urllib.error
from dataclasses import replace

import pytest
from django.core.management import CommandError, call_command

from metrics import weights

GOOD = b"stand-in weight file\n" * 100
CORRUPT = GOOD[:-1] + b"?"
URL = "https://weights.example.org/tiny-0123abcd.pth"


class _Response(io.BytesIO):
    """What ``urlopen`` returns, enough for ``download_weight``: ``read``, ``headers``, a context manager."""

    def __init__(self, body: bytes):
        super().__init__(body)
        self.headers = {"Content-Length": str(len(body))}


@pytest.fixture
def tiny_weight(monkeypatch):
    """Replace the registry by one small entry pinned to GOOD's SHA-256."""
    weight = weights.WeightFile(
        name="tiny", filename="tiny-0123abcd.pth", url=URL, sha256=hashlib.sha256(GOOD).hexdigest(),
        size=len(GOOD), licence="test", used_by="tests",
    )
    monkeypatch.setattr(weights, "WEIGHTS", {"tiny": weight})
    return weight


@pytest.fixture
def serve(monkeypatch):
    """serve(body) makes every URL answer with ``body``; serve(None) makes every host unreachable (no DNS).
    Returns the list of (method, url, timeout) requested."""
    requests = []

    def start(body: bytes | None):
        requests.clear()
        def urlopen(request, timeout=None):
            url = getattr(request, "full_url", request)
            requests.append((getattr(request, "method", None) or "GET", url, timeout))
            if body is None:
                raise urllib.error.URLError(socket.gaierror(-2, "Name or service not known"))
            return _Response(body)

        monkeypatch.setattr(weights.urllib.request, "urlopen", urlopen)
        return requests

    return start


def unpinned(weight, monkeypatch):
    """The same entry with no published SHA-256 (trusted on first use)."""
    changed = replace(weight, sha256=None, note="no published hash")
    monkeypatch.setattr(weights, "WEIGHTS", {changed.name: changed})
    return changed


def left_in(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


class TestDownload:
    def test_a_good_file_is_installed_after_its_hash_is_checked(self, tiny_weight, serve, monkeypatch):
        serve(GOOD)
        checked = []
        monkeypatch.setattr(weights, "sha256_file", lambda path: checked.append(path) or hashlib.sha256(
            path.read_bytes()).hexdigest())
        path = weights.download_weight(tiny_weight, progress=False, timeout=5)
        assert path.read_bytes() == GOOD and len(checked) == 1
        assert left_in(path.parent) == [tiny_weight.filename]

    def test_a_corrupt_file_is_refused_and_not_left_on_disk(self, tiny_weight, serve):
        serve(CORRUPT)
        with pytest.raises(weights.WeightVerificationError, match=f"expected {tiny_weight.sha256}"):
            weights.download_weight(tiny_weight, progress=False)
        assert left_in(tiny_weight.path().parent) == []  # neither the file nor a temporary one

    def test_the_timeout_reaches_the_connection(self, tiny_weight, serve):
        requests = serve(GOOD)
        weights.download_weight(tiny_weight, progress=False, timeout=7)
        assert requests == [("GET", URL, 7)]


class TestTrustOnFirstUse:
    def test_the_first_download_records_its_hash_beside_the_file(self, tiny_weight, serve, monkeypatch):
        weight = unpinned(tiny_weight, monkeypatch)
        serve(GOOD)
        weights.download_weight(weight, progress=False)
        assert weight.recorded_sha256() == hashlib.sha256(GOOD).hexdigest()
        assert weight.pin_path() == weight.path().with_name("tiny-0123abcd.pth.sha256")

    def test_a_later_file_with_another_hash_is_refused(self, tiny_weight, serve, monkeypatch):
        weight = unpinned(tiny_weight, monkeypatch)
        serve(GOOD)
        weights.download_weight(weight, progress=False)
        weight.path().unlink()
        serve(CORRUPT)
        with pytest.raises(weights.WeightVerificationError, match="recorded on first use"):
            weights.download_weight(weight, progress=False)
        assert left_in(weight.path().parent) == [weight.pin_path().name]
        assert weight.recorded_sha256() == hashlib.sha256(GOOD).hexdigest()

    def test_a_published_hash_needs_no_record(self, tiny_weight, serve):
        serve(GOOD)
        weights.download_weight(tiny_weight, progress=False)
        assert not tiny_weight.pin_path().exists() and tiny_weight.recorded_sha256() is None

    def test_the_list_shows_the_recorded_hash(self, tiny_weight, serve, monkeypatch, capsys):
        weight = unpinned(tiny_weight, monkeypatch)
        serve(GOOD)
        weights.download_weight(weight, progress=False)
        call_command("fetch_weights", "--list", "tiny")
        assert f"sha256:  {hashlib.sha256(GOOD).hexdigest()} (recorded on first use in" in capsys.readouterr().out


class TestDemoMode:
    def test_offline_says_so_once_and_exits_0(self, tiny_weight, serve, capsys):
        requests = serve(None)
        call_command("fetch_weights", "--demo")  # no CommandError: the demo goes on
        out = capsys.readouterr().out
        assert out.count("no internet to weights.example.org ([Errno -2] Name or service not known)") == 1
        assert "LPIPS/DISTS weights not fetched (tiny)" in out
        assert "`python manage.py fetch_weights --from DIR`" in out
        assert len(out.strip().splitlines()) <= 2
        assert requests == [("HEAD", URL, 10)]  # probed once, with the short timeout; no download tried
        assert not tiny_weight.is_installed()

    def test_offline_without_demo_is_an_error(self, tiny_weight, serve):
        serve(None)
        with pytest.raises(CommandError, match="tiny: <urlopen error"):
            call_command("fetch_weights")

    def test_online_downloads_what_is_missing_and_says_so(self, tiny_weight, serve, capsys):
        serve(GOOD)
        call_command("fetch_weights", "--demo")
        out = capsys.readouterr().out
        assert f"downloading the tiny weights for LPIPS/DISTS ({URL}" in out
        assert "tiny: installed at" in out and "SHA-256 verified" in out
        assert tiny_weight.path().read_bytes() == GOOD

    def test_a_corrupt_download_is_reported_not_kept_and_the_demo_goes_on(self, tiny_weight, serve, capsys):
        serve(CORRUPT)
        call_command("fetch_weights", "--demo")
        assert "tiny: not installed: SHA-256" in capsys.readouterr().out
        assert left_in(tiny_weight.path().parent) == []

    def test_nothing_missing_means_nothing_said_and_no_request(self, tiny_weight, serve, capsys):
        serve(GOOD)
        weights.download_weight(tiny_weight, progress=False)
        requests = serve(None)
        call_command("fetch_weights", "--demo")
        assert capsys.readouterr().out == "" and requests == []
