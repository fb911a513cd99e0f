"""Load codec plugins from plugin folders and look codecs up by name. Django-free core.

``codecs/`` cannot be a Python package (the standard library owns the name,
DESIGN.md), so each ``*.py`` file of a plugin folder is loaded by path, as
module ``faceqa_codecs.<file stem>``; files whose names start with ``_`` or
``test_`` are skipped. A plugin declares its codecs with
``qa_platform.codec_api.register_codec``. Each ``*.toml`` file of a folder
(same skipping rules) is a manifest of one external codec
(``qa_platform.manifest_codec``), registered as a generated class; a broken
manifest is a ``PluginError`` naming the file and the field. The folders are
``settings.CODEC_PLUGIN_DIRS``, read at call time, unless the caller names
them: with explicit folders the registry works without Django.

Each file is loaded once per process. The registry remembers which file
declared each codec, so a name declared in two files is reported with both.
"""
import difflib
import importlib.util
import inspect
import sys
from pathlib import Path

from qa_platform import manifest_codec
from qa_platform.codec_api import Codec, CodecError, register_codec, registered_codecs

MODULE_PREFIX = "faceqa_codecs"


class PluginError(CodecError):
    """A codec plugin file could not be loaded; the message names the file."""


# Codecs declared by each loaded plugin file, by resolved path.
_LOADED: dict[Path, dict[str, type[Codec]]] = {}


def default_dirs() -> list[Path]:
    """``settings.CODEC_PLUGIN_DIRS``, read now (needs configured Django settings)."""
    from django.conf import settings

    return [Path(folder) for folder in settings.CODEC_PLUGIN_DIRS]


def plugin_files(folder: Path) -> list[Path]:
    """The plugin files of a folder, sorted by name; ``PluginError`` when it is not a folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise PluginError(f"codec plugin folder {folder} does not exist; fix CODEC_PLUGIN_DIRS")
    return sorted(
        path for pattern in ("*.py", "*.toml") for path in folder.glob(pattern)
        if not path.name.startswith(("_", "test_"))
    )


def _declared_in(module) -> dict[str, type[Codec]]:
    registry = registered_codecs()
    return {
        cls.name: cls for cls in vars(module).values()
        if inspect.isclass(cls) and cls.__module__ == module.__name__
        and registry.get(getattr(cls, "name", None)) is cls
    }


def _module_name(path: Path) -> str:
    name = f"{MODULE_PREFIX}.{path.stem}"
    existing = sys.modules.get(name)
    if existing is not None:
        raise PluginError(
            f"{path}: a plugin file of the same name was loaded already ({existing.__file__}); "
            "plugin file names must be unique across plugin folders: rename one"
        )
    return name


def _execute(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise PluginError(f"{path}: the codec plugin failed to load: {type(exc).__name__}: {exc}") from exc
    return module


def _check_clash(path: Path, declared: dict[str, type[Codec]]) -> None:
    for other, codecs in _LOADED.items():
        clash = sorted(declared.keys() & codecs.keys())
        if clash:
            raise PluginError(f"codec name {clash[0]!r} is declared in both {other} and {path}; rename one")


def _load_manifest(path: Path) -> dict[str, type[Codec]]:
    try:
        cls = manifest_codec.codec_class(manifest_codec.read_manifest(path))
    except CodecError as exc:
        raise PluginError(str(exc)) from exc
    declared = {cls.name: cls}
    _check_clash(path, declared)
    try:
        register_codec(cls)
    except CodecError as exc:
        raise PluginError(f"{path}: {exc}") from exc
    return declared


def _load_module(path: Path) -> dict[str, type[Codec]]:
    name = _module_name(path)
    declared = _declared_in(_execute(name, path))
    try:
        _check_clash(path, declared)
    except PluginError:
        del sys.modules[name]
        raise
    return declared


def _load_file(path: Path) -> dict[str, type[Codec]]:
    path = path.resolve()
    if path not in _LOADED:
        _LOADED[path] = _load_manifest(path) if path.suffix == ".toml" else _load_module(path)
    return _LOADED[path]


def load_codecs(dirs: list[Path] | None = None) -> dict[str, type[Codec]]:
    """Load the plugin folders ``dirs`` (default: ``settings.CODEC_PLUGIN_DIRS``).

    Returns the codec classes declared in those folders, by name. Raises
    ``PluginError`` naming the file when a plugin fails to import or declares
    a name another plugin file declared already.
    """
    codecs: dict[str, type[Codec]] = {}
    for folder in default_dirs() if dirs is None else dirs:
        for path in plugin_files(folder):
            codecs.update(_load_file(path))
    return codecs


def all_codecs(dirs: list[Path] | None = None) -> list[type[Codec]]:
    """The codec classes of the plugin folders, sorted by name."""
    codecs = load_codecs(dirs)
    return [codecs[name] for name in sorted(codecs)]


def get_codec(name: str, dirs: list[Path] | None = None) -> Codec:
    """An instance of the codec called ``name`` from the plugin folders.

    Raises ``CodecError`` for an unknown name, suggesting the closest known one.
    """
    codecs = load_codecs(dirs)
    if name not in codecs:
        close = difflib.get_close_matches(name, codecs, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise CodecError(f"unknown codec {name!r}{hint} (known: {', '.join(sorted(codecs)) or 'none'})")
    return codecs[name]()
