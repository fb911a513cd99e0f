import hashlib
from dataclasses import replace

import pytest
from django.core.management import CommandError, call_command

from metrics import weights
from metrics.weights import BUNDLED
from qa_platform.codec.storage import sha256_file

PAYLOAD = b"stand-in weight file\n" * 100


@pytest.fixture
def candidate_dir(tmp_path):
    """A folder holding a file to install, as a lab would copy from another machine."""
    folder = tmp_path / "offline"
    folder.mkdir()
    (folder / "tiny-0123abcd.pth").write_bytes(PAYLOAD)
    return folder


@pytest.fixture
def tiny_weight(monkeypatch):
    """Replace the registry by one small entry pinned to PAYLOAD's SHA-256."""
    weight = weights.WeightFile(
        name="tiny", filename="tiny-0123abcd.pth", url="file:///nonexistent/tiny-0123abcd.pth",
        sha256=hashlib.sha256(PAYLOAD).hexdigest(), size=len(PAYLOAD),
        licence="test", used_by="tests",
    )
    monkeypatch.setattr(weights, "WEIGHTS", {"tiny": weight})
    return weight


def pin(weight, monkeypatch, **changes):
    changed = replace(weight, **changes)
    monkeypatch.setattr(weights, "WEIGHTS", {changed.name: changed})
    return changed


class TestRegistryEntries:
    def test_torchvision_files_are_pinned_to_a_hash_their_name_starts(self):
        for name in ("alexnet", "vgg16"):
            weight = weights.get_weight(name)
            prefix = weight.filename.rsplit("-", 1)[1].split(".")[0]
            assert len(weight.sha256) == 64 and weight.sha256.startswith(prefix)

    def test_files_go_to_torch_hub_checkpoints_under_torch_home(self, empty_torch_home):
        assert weights.get_weight("alexnet").path() == empty_torch_home / "hub" / "checkpoints" / "alexnet-owt-7be5be79.pth"

    def test_require_names_every_missing_file_and_the_command(self):
        with pytest.raises(weights.WeightsMissingError) as caught:
            weights.require_weights(["vgg16", "dists"])
        assert [w.name for w in caught.value.missing] == ["vgg16", "dists"]
        assert "python manage.py fetch_weights" in str(caught.value)

    def test_unknown_weight_names_the_known_ones(self):
        with pytest.raises(KeyError, match="known: alexnet, vgg16, dists"):
            weights.get_weight("resnet")


class TestInstall:
    def test_a_matching_file_is_installed(self, tiny_weight, candidate_dir):
        path = weights.install_weight_from(tiny_weight, candidate_dir)
        assert path.read_bytes() == PAYLOAD and tiny_weight.is_installed()

    def test_a_wrong_sha256_is_refused_and_nothing_is_installed(self, tiny_weight, candidate_dir, monkeypatch):
        wrong = pin(tiny_weight, monkeypatch, sha256="0" * 64)
        with pytest.raises(weights.WeightVerificationError, match="expected 0000"):
            weights.install_weight_from(wrong, candidate_dir)
        assert not wrong.path().exists()
        assert list(wrong.path().parent.iterdir()) == []  # no temporary file left

    def test_a_wrong_size_is_refused(self, tiny_weight, candidate_dir, monkeypatch):
        wrong = pin(tiny_weight, monkeypatch, size=len(PAYLOAD) + 1)
        with pytest.raises(weights.WeightVerificationError, match="bytes, expected"):
            weights.install_weight_from(wrong, candidate_dir)
        assert not wrong.is_installed()

    def test_an_unpinned_file_is_trusted_on_first_use_and_later_copies_must_match(
            self, tiny_weight, candidate_dir, monkeypatch):
        unpinned = pin(tiny_weight, monkeypatch, sha256=None, note="no source")
        weights.install_weight_from(unpinned, candidate_dir)
        assert unpinned.recorded_sha256() == hashlib.sha256(PAYLOAD).hexdigest()
        unpinned.path().unlink()
        (candidate_dir / unpinned.filename).write_bytes(PAYLOAD.upper())  # same size, another hash
        with pytest.raises(weights.WeightVerificationError, match="recorded on first use"):
            weights.install_weight_from(unpinned, candidate_dir)
        assert not unpinned.is_installed()

    def test_download_verifies_too(self, tiny_weight, candidate_dir, monkeypatch):
        served = pin(tiny_weight, monkeypatch, url=(candidate_dir / tiny_weight.filename).as_uri())
        assert weights.download_weight(served, progress=False).read_bytes() == PAYLOAD
        served.path().unlink()
        corrupt = pin(served, monkeypatch, sha256="f" * 64)
        with pytest.raises(weights.WeightVerificationError):
            weights.download_weight(corrupt, progress=False)
        assert not corrupt.is_installed()


class TestFetchWeightsCommand:
    def test_from_folder_installs_a_right_file(self, tiny_weight, candidate_dir, capsys):
        call_command("fetch_weights", "--from", str(candidate_dir))
        assert "tiny: installed" in capsys.readouterr().out
        assert tiny_weight.is_installed()

    def test_from_folder_refuses_a_wrong_file(self, tiny_weight, candidate_dir, monkeypatch):
        wrong = pin(tiny_weight, monkeypatch, sha256="0" * 64)
        with pytest.raises(CommandError, match="tiny: SHA-256 .* expected 0{64}; not installed"):
            call_command("fetch_weights", "--from", str(candidate_dir))
        assert not wrong.is_installed()

    def test_list_shows_state_and_pins(self, capsys):
        call_command("fetch_weights", "--list")
        out = capsys.readouterr().out
        assert "alexnet (missing): alexnet-owt-7be5be79.pth" in out
        assert "sha256:  not pinned" in out  # piq's DISTS file

    def test_list_names_the_bundled_models_with_the_hash_of_the_installed_file(self, capsys):
        call_command("fetch_weights", "--list")
        out = capsys.readouterr().out
        for model in BUNDLED:
            assert f"{model.name} (package {model.package})" in out
        landmarks = BUNDLED[0].path()
        assert f"sha256:  {sha256_file(landmarks)}" in out and "missing:" not in out

    def test_unknown_name_is_an_error(self):
        with pytest.raises(CommandError, match="unknown weight 'vgg19'"):
            call_command("fetch_weights", "vgg19")
