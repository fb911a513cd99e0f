"""Load codec plugins from plugin folders and look codecs up by name. Django-free core.

``codecs/`` cannot be a Python package (the standard library owns the name,
DESIGN.md), so each ``*.py`` file of a plugin folder is loaded by path, as
module ``faceqa_codecs.<file stem>``; files whose names start with ``_`` or
``test_`` are skipped. A plugin declares its codecs with
``qa_platform.codec.base.register_codec``. Each ``*.toml`` file of a folder
(same skipping rules) is a manifest of one external codec
(``qa_platform.codec.manifest``), registered as a generated class; a broken
manifest is a ``PluginError`` naming the file and the field. The folders are
the ones given to :func:`configure` (the core app gives it
``settings.CODEC_PLUGIN_DIRS`` when Django starts, and again when a test
changes the setting) unless the caller names them.

Each file is loaded once per process. The registry remembers which file
declared each codec, so a name declared in two files is reported with both.
"""
import difflib
import importlib.util
import inspect
import sys
from pathlib import Path

from qa_platform.codec import manifest
from qa_platform.codec.base import Codec, CodecError, register_codec, registered_codecs

MODULE_PREFIX = "faceqa_codecs"


class PluginError(CodecError):
    """A codec plugin file could not be loaded; the message names the file."""


# Codecs declared by each loaded plugin file, by resolved path.
_LOADED: dict[Path, dict[str, type[Codec]]] = {}
# The plugin folders used when a caller names none (see configure).
_DEFAULT_DIRS: list[Path] = []


def configure(dirs) -> None:
    """Set the plugin folders searched when a caller names none (paths, in order)."""
    _DEFAULT_DIRS[:] = [Path(folder) for folder in dirs]


def default_dirs() -> list[Path]:
    """The folders given to :func:`configure`; ``PluginError`` when none were."""
    if not _DEFAULT_DIRS:
        raise PluginError("no codec plugin folders configured: call qa_platform.codec.registry.configure(dirs) "
                          "(Django does it from settings.CODEC_PLUGIN_DIRS) or pass the folders")
    return list(_DEFAULT_DIRS)


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
        cls = manifest.codec_class(manifest.read_manifest(path))
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


def load_plugin_file(path: Path) -> dict[str, type[Codec]]:
    """Load one plugin file (``*.py`` or ``*.toml``), once per process; the codec classes it declares, by name.

    Raises ``PluginError`` naming the file when it fails to load or declares
    a name another plugin file declared already. For callers that must go on
    past a broken file (a data migration); others use :func:`load_codecs`.
    """
    path = Path(path).resolve()
    if path not in _LOADED:
        _LOADED[path] = _load_manifest(path) if path.suffix == ".toml" else _load_module(path)
    return _LOADED[path]


def load_codecs(dirs: list[Path] | None = None) -> dict[str, type[Codec]]:
    """Load the plugin folders ``dirs`` (default: the configured ones, :func:`configure`).

    Returns the codec classes declared in those folders, by name. Raises
    ``PluginError`` naming the file when a plugin fails to import or declares
    a name another plugin file declared already.
    """
    codecs: dict[str, type[Codec]] = {}
    for folder in default_dirs() if dirs is None else dirs:
        for path in plugin_files(folder):
            codecs.update(load_plugin_file(path))
    return codecs


def declared_in(name: str) -> Path:
    """The plugin file (``*.py`` or ``*.toml``) that declared codec ``name``; ``CodecError`` if none loaded it."""
    for path, codecs in _LOADED.items():
        if name in codecs:
            return path
    raise CodecError(f"no loaded plugin file declares codec {name!r}")


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
