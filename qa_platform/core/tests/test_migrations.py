"""Migration 0003_hrc_facts: HRCs made before it get their curve, family and codec version."""
import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from qa_platform.codec.checkpoints import ENV_VAR

BEFORE = [("qa_platform", "0002_rate_matching")]
AFTER = [("qa_platform", "0003_hrc_facts")]
CHECKPOINT = "0123456789abcdef"


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.fixture
def back_to_latest():
    """Whatever a test leaves, the database ends at every app's latest migration."""
    yield
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_existing_hrcs_get_their_facts_from_the_plugins(data_dir, monkeypatch, capsys, back_to_latest):
    monkeypatch.delenv(ENV_VAR, raising=False)  # no keypoint-anim checkpoint: its curves come from the class
    old = _migrate(BEFORE)
    Hrc, Pvs, Source = (old.get_model("qa_platform", name) for name in ("Hrc", "Pvs", "Source"))
    source = Source.objects.create(
        name="alice", origin_path="/clips/alice.mp4", origin_sha256="a" * 64, size=64, fps_num=25, fps_den=1,
        max_frames=25, frame_count=25, crop_x=0, crop_y=0, crop_size=64, lossless_path="a.mkv", browser_path="a.mp4")
    rows = {
        "x265": ("x265", {"qp": 30}),
        "warp": ("landmark-warp", {"q": 2.0, "key_qp": 37, "key_period": 10}),
        "anim": ("keypoint-anim", {"checkpoint": CHECKPOINT, "q": 1.0, "key_qp": 37}),
        "gone": ("retired-codec", {"level": 3}),
    }
    ids = {key: Hrc.objects.create(codec=codec, params=params, params_key=key, label=f"{codec} {key}").pk
           for key, (codec, params) in rows.items()}
    Pvs.objects.create(source=source, hrc_id=ids["x265"], codec_version="x265 3.5 (coded then)")

    new = _migrate(AFTER)
    facts = {key: new.get_model("qa_platform", "Hrc").objects.values("curve", "family", "codec_version")
             .get(pk=pk) for key, pk in ids.items()}
    assert facts["x265"] == {"curve": "x265", "family": "conventional", "codec_version": "x265 3.5 (coded then)"}
    assert facts["warp"]["curve"] == "landmark-warp key_period=10" and facts["warp"]["family"] == "generative"
    assert facts["warp"]["codec_version"].startswith("2 (")  # no PVS coded: the plugin's version now
    assert facts["anim"]["curve"] == f"keypoint-anim checkpoint={CHECKPOINT}"
    assert facts["gone"] == {"curve": "retired-codec", "family": "", "codec_version": ""}
    assert "no plugin declares codec 'retired-codec'" in capsys.readouterr().out
