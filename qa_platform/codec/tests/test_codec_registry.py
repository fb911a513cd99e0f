"""The codec registry: plugins loaded by path from folders, names declared once, clear errors."""
import uuid
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from qa_platform.codec import registry as codec_registry
from qa_platform.codec.base import CodecError
from qa_platform.codec.registry import PluginError

REPO_CODECS = Path(__file__).resolve().parents[3] / "codecs"

PLUGIN = '''
from qa_platform.codec.base import Codec, Family, register_codec


@register_codec
class {cls}(Codec):
    name = "{name}"
    version = "1"
    family = Family.GENERATIVE
    param_names = ("level",)
    default_rate_points = ({{"level": 1}},)

    def encode(self, clip, params, workdir):
        raise NotImplementedError

    def decode(self, bitstream):
        raise NotImplementedError
'''


def unique(prefix: str) -> str:
    """A fresh name: plugin modules and codec names live for the whole test process."""
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def write_plugin(folder: Path, name: str, cls: str = "Plugin", stem: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stem or unique('plugin')}.py"
    path.write_text(PLUGIN.format(cls=cls, name=name))
    return path


class TestLoading:
    def test_plugins_in_a_folder_are_loaded_by_path(self, tmp_path):
        name = unique("codec")
        write_plugin(tmp_path, name)
        codecs = codec_registry.load_codecs([tmp_path])
        assert list(codecs) == [name]
        assert codecs[name].__module__.startswith("faceqa_codecs.")
        assert codec_registry.get_codec(name, dirs=[tmp_path]).name == name

    def test_a_folder_is_loaded_once(self, tmp_path):
        name = unique("codec")
        write_plugin(tmp_path, name)
        first = codec_registry.load_codecs([tmp_path])[name]
        assert codec_registry.load_codecs([tmp_path])[name] is first

    def test_private_and_test_files_are_skipped(self, tmp_path):
        write_plugin(tmp_path, unique("codec"), stem=f"_{unique('helper')}")
        write_plugin(tmp_path, unique("codec"), stem=f"test_{unique('plugin')}")
        assert codec_registry.load_codecs([tmp_path]) == {}

    def test_codecs_of_other_folders_are_not_visible(self, tmp_path):
        name = unique("codec")
        write_plugin(tmp_path / "lab", name)
        codec_registry.load_codecs([tmp_path / "lab"])
        write_plugin(tmp_path / "other", unique("codec"))
        with pytest.raises(CodecError, match="unknown codec"):
            codec_registry.get_codec(name, dirs=[tmp_path / "other"])

    def test_all_codecs_are_sorted_by_name(self, tmp_path):
        names = [unique("b"), unique("a"), unique("c")]
        for name in names:
            write_plugin(tmp_path, name)
        assert [cls.name for cls in codec_registry.all_codecs([tmp_path])] == sorted(names)

    def test_folders_come_from_settings_at_call_time(self, tmp_path, settings):
        name = unique("codec")
        write_plugin(tmp_path, name)
        settings.CODEC_PLUGIN_DIRS = [tmp_path]
        assert codec_registry.get_codec(name).name == name

    def test_the_repository_codecs_are_there(self):
        assert {"x264", "x265", "landmark-warp"} <= set(codec_registry.load_codecs([REPO_CODECS]))


class TestErrors:
    def test_unknown_name_suggests_the_closest(self):
        with pytest.raises(CodecError, match="did you mean 'x265'"):
            codec_registry.get_codec("x256", dirs=[REPO_CODECS])

    def test_unknown_name_without_a_close_one_lists_the_known(self):
        with pytest.raises(CodecError, match=r"unknown codec 'zzzz' \(known: .*landmark-warp, .*x264, x265"):
            codec_registry.get_codec("zzzz", dirs=[REPO_CODECS])

    def test_a_name_declared_in_two_files_names_both(self, tmp_path):
        name = unique("codec")
        first = write_plugin(tmp_path / "a", name)
        second = write_plugin(tmp_path / "b", name)
        codec_registry.load_codecs([tmp_path / "a"])
        with pytest.raises(PluginError, match="declared in both") as raised:
            codec_registry.load_codecs([tmp_path / "b"])
        assert str(first) in str(raised.value) and str(second) in str(raised.value)

    def test_a_name_declared_twice_by_different_classes_is_refused(self, tmp_path):
        name = unique("codec")
        write_plugin(tmp_path, name, cls="First", stem=unique("a"))
        second = write_plugin(tmp_path, name, cls="Second", stem=unique("b"))
        with pytest.raises(PluginError, match="failed to load: CodecError: .* registered twice") as raised:
            codec_registry.load_codecs([tmp_path])
        assert str(second) in str(raised.value)

    def test_a_broken_plugin_file_is_named_and_stays_broken(self, tmp_path):
        path = tmp_path / f"{unique('broken')}.py"
        path.write_text("import qa_platform.no_such_module\n")
        for _ in range(2):
            with pytest.raises(PluginError, match="failed to load: ModuleNotFoundError") as raised:
                codec_registry.load_codecs([tmp_path])
            assert str(path) in str(raised.value)

    def test_a_syntax_error_is_named(self, tmp_path):
        path = tmp_path / f"{unique('syntax')}.py"
        path.write_text("class (:\n")
        with pytest.raises(PluginError, match="SyntaxError") as raised:
            codec_registry.load_codecs([tmp_path])
        assert str(path) in str(raised.value)

    def test_a_missing_folder_is_named(self, tmp_path):
        with pytest.raises(PluginError, match="does not exist"):
            codec_registry.load_codecs([tmp_path / "absent"])

    def test_plugin_file_names_must_be_unique_across_folders(self, tmp_path):
        stem = unique("same")
        write_plugin(tmp_path / "a", unique("codec"), stem=stem)
        write_plugin(tmp_path / "b", unique("codec"), stem=stem)
        codec_registry.load_codecs([tmp_path / "a"])
        with pytest.raises(PluginError, match="same name was loaded already"):
            codec_registry.load_codecs([tmp_path / "b"])


class TestListCodecsCommand:
    def test_prints_every_codec_with_its_rate_points(self, settings):
        settings.CODEC_PLUGIN_DIRS = [REPO_CODECS]
        out = StringIO()
        call_command("list_codecs", stdout=out)
        lines = out.getvalue().splitlines()
        assert lines[0].split()[:4] == ["name", "version", "family", "device"]
        rows = {line.split()[0]: line for line in lines[1:-1]}
        assert {"landmark-warp", "x264", "x265"} <= set(rows)
        assert '{"qp":51}' in rows["x265"] and "conventional" in rows["x265"]
        assert "generative" in rows["landmark-warp"] and "q, key_qp" in rows["landmark-warp"]
        assert lines[-1] == f"{len(codec_registry.load_codecs([REPO_CODECS]))} codecs."
