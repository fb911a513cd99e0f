"""The code's version recorded with analyses and exports, in a checkout and in a container image."""
import subprocess

from studies import versions


def _no_git(*args, **kwargs):
    raise FileNotFoundError(2, "No such file or directory", "git")


def test_without_git_the_image_records_its_commit(monkeypatch, settings):
    monkeypatch.setattr(subprocess, "run", _no_git)
    settings.FACEQA_CODE_VERSION = "1fdd1ba"
    assert versions.code_version() == "1fdd1ba"


def test_without_git_or_a_recorded_commit_it_says_so(monkeypatch, settings):
    monkeypatch.setattr(subprocess, "run", _no_git)
    settings.FACEQA_CODE_VERSION = ""
    assert versions.code_version() == "unknown (not a git checkout)"
    assert versions.software_versions(["Django"])["faceqa"] == "unknown (not a git checkout)"


def test_outside_a_checkout_the_recorded_commit_is_used(monkeypatch, settings, tmp_path):
    settings.BASE_DIR = tmp_path  # git runs but finds no repository here
    settings.FACEQA_CODE_VERSION = "abc1234"
    assert versions.code_version() == "abc1234"
