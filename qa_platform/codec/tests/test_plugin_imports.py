"""Codec plugins import FaceQA through the codec package's public API alone, and loading them has no side effects.

``codecs/`` is a plugin folder, not a package (DESIGN.md), so import-linter
cannot see it; these tests read each plugin's imports instead.
"""
import ast
import json
import subprocess
import sys

import pytest

from conftest import REPO_CODECS, REPO_DIR

FIRST_PARTY = ("qa_platform", "metrics", "studies", "training")
FORBIDDEN = ("django", "celery")


def plugin_imports(path) -> list[str]:
    """The modules a plugin file imports (``from X import y`` gives X)."""
    modules = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            modules += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            modules.append("." * node.level + (node.module or ""))
    return modules


@pytest.mark.parametrize("path", sorted(REPO_CODECS.glob("*.py")), ids=lambda path: path.name)
def test_a_plugin_imports_faceqa_only_through_the_codec_package(path):
    first_party = [m for m in plugin_imports(path) if m.split(".")[0] in FIRST_PARTY or m.startswith(".")]
    assert set(first_party) <= {"qa_platform.codec"}, f"{path.name} imports {first_party}; use qa_platform.codec"
    forbidden = [m for m in plugin_imports(path) if m.split(".")[0] in FORBIDDEN]
    assert not forbidden, f"{path.name} imports {forbidden}: plugins are Django-free"


def test_the_public_api_names_exist():
    import qa_platform.codec as api

    missing = [name for name in api.__all__ if not hasattr(api, name)]
    assert not missing


# Loads every plugin of codecs/ in a fresh interpreter and reports what that imported and changed.
LOAD_PLUGINS = """
import json, os, sys
import cv2  # OpenCV's loader sets LD_LIBRARY_PATH when imported: a library's doing, not a plugin's
before = dict(os.environ)
from qa_platform.codec import registry
codecs = registry.load_codecs([sys.argv[1]])
after = dict(os.environ)
print(json.dumps({"codecs": sorted(codecs), "django": "django" in sys.modules, "celery": "celery" in sys.modules,
                  "environment": sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))}))
"""


@pytest.mark.slow  # spawns a Python process
def test_loading_every_plugin_imports_no_django_and_changes_no_environment_variable():
    result = subprocess.run([sys.executable, "-c", LOAD_PLUGINS, str(REPO_CODECS)], cwd=REPO_DIR,
                            capture_output=True, text=True, check=True)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert {"x264", "x265", "landmark-warp", "keypoint-anim"} <= set(report["codecs"])
    assert report == {**report, "django": False, "celery": False, "environment": []}


READ_SETTINGS = """
import json, os, sys
before = dict(os.environ)
import qa_platform.settings as settings
print(json.dumps({"data_dir": os.path.exists(settings.DATA_DIR),
                  "environment": sorted(k for k in set(before) | set(os.environ) if before.get(k) != os.environ.get(k))}))
"""


@pytest.mark.slow  # spawns a Python process
def test_reading_the_settings_creates_no_folder_and_changes_no_environment_variable(tmp_path):
    env = {key: value for key, value in __import__("os").environ.items() if key != "TORCH_HOME"}
    env["FACEQA_DATA_DIR"] = str(tmp_path / "not-yet")
    result = subprocess.run([sys.executable, "-c", READ_SETTINGS], cwd=REPO_DIR, env=env,
                            capture_output=True, text=True, check=True)
    assert json.loads(result.stdout) == {"data_dir": False, "environment": []}
