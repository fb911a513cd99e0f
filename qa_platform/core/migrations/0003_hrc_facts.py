"""HRC facts stored once: every HRC's rate–distortion curve, codec family and codec version.

The data step fills the HRCs that exist from the codec plugins of
``settings.CODEC_PLUGIN_DIRS``, loaded file by file, so that a plugin that
cannot load here spoils only its own codecs:

- ``curve``: ``Codec.curve_name(params)`` (plugin classes load without
  checkpoints or external programs); the codec's name when its plugin is
  missing or cannot name the curve;
- ``family``: the plugin class's ``family``; left blank when the plugin is
  missing (the codec's family is not knowable without it);
- ``codec_version``: the version that coded the HRC's first coded PVS, else
  the plugin's version now, else blank.

Every fallback is printed as a note naming the HRC. With no HRC, no plugin
is loaded (a new database does not import torch or dlib to migrate).
"""
from django.conf import settings
from django.db import migrations, models


def _plugin_classes() -> tuple[dict, list[str]]:
    """The codec classes that load, by name, and a note per plugin folder or file that does not."""
    from qa_platform.codec import registry

    classes, notes = {}, []
    for folder in settings.CODEC_PLUGIN_DIRS:
        try:
            files = registry.plugin_files(folder)
        except registry.PluginError as exc:
            notes.append(str(exc))
            continue
        for path in files:
            try:
                classes.update(registry.load_plugin_file(path))
            except registry.PluginError as exc:
                notes.append(str(exc))
    return classes, notes


def _curve(cls, hrc, notes: list[str]) -> str:
    try:
        return cls().curve_name(hrc.params)
    except Exception as exc:  # whatever a plugin raises: the HRC keeps its codec's name as its curve
        notes.append(f"HRC {hrc.label!r}: {hrc.codec} cannot name its curve here ({type(exc).__name__}: {exc}); "
                     f"curve set to {hrc.codec!r}")
        return hrc.codec


def fill_hrc_facts(apps, schema_editor):
    Hrc = apps.get_model("qa_platform", "Hrc")
    Pvs = apps.get_model("qa_platform", "Pvs")
    hrcs = list(Hrc.objects.all())
    if not hrcs:
        return
    classes, notes = _plugin_classes()
    for hrc in hrcs:
        cls = classes.get(hrc.codec)
        coded_by = (Pvs.objects.filter(hrc=hrc).exclude(codec_version="").order_by("pk")
                    .values_list("codec_version", flat=True).first())
        if cls is None:
            notes.append(f"HRC {hrc.label!r}: no plugin declares codec {hrc.codec!r}; curve set to {hrc.codec!r}, "
                         "family left blank")
            hrc.curve, hrc.family, hrc.codec_version = hrc.codec, "", coded_by or ""
        else:
            hrc.curve, hrc.family = _curve(cls, hrc, notes), str(cls.family)
            hrc.codec_version = coded_by or cls.version
        hrc.save(update_fields=["curve", "family", "codec_version"])
    for note in notes:
        print(f"\n  0003_hrc_facts: {note}", end="")


class Migration(migrations.Migration):

    dependencies = [
        ("qa_platform", "0002_rate_matching"),
    ]

    operations = [
        migrations.AddField(
            model_name="hrc",
            name="curve",
            field=models.CharField(
                default="", max_length=300,
                help_text="The rate–distortion curve this HRC is a point of (Codec.curve_name): the codec and its "
                          "parameters that do not set the rate, e.g. 'landmark-warp key_period=10'. "
                          "HRCs on one curve differ in rate only.",
            ),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="hrc",
            name="family",
            field=models.CharField(
                blank=True, max_length=16,
                choices=[("conventional", "conventional"), ("generative", "generative")],
                help_text="The codec's family; blank when its plugin was missing when the HRC was recorded.",
            ),
        ),
        migrations.AddField(
            model_name="hrc",
            name="codec_version",
            field=models.CharField(blank=True, max_length=100, help_text="The codec's version when the HRC was made."),
        ),
        migrations.RunPython(fill_hrc_facts, migrations.RunPython.noop),
    ]
