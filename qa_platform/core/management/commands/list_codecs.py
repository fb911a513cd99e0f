from django.core.management.base import BaseCommand, CommandError

from qa_platform.codec import registry as codec_registry
from qa_platform.codec.base import CodecError, params_key
from qa_platform.codec.manifest import ManifestCodec
from qa_platform.core.optional_parts import format_messages, optional_part_messages

COLUMNS = ("name", "version", "family", "device", "parameters", "default rate points", "available")


class Command(BaseCommand):
    help = ("List the codecs of the plugin folders (settings.CODEC_PLUGIN_DIRS) with their default rate points; "
            "unavailable ones with the reason (manifest codecs: their qa_platform.W002 check, with the install hint).")

    def handle(self, *args, **options):
        try:
            codecs = codec_registry.all_codecs()
        except CodecError as exc:
            raise CommandError(str(exc)) from exc
        reasons = {cls.name: cls().unavailable_reason() for cls in codecs}
        rows = [COLUMNS] + [
            (cls.name, cls.version, str(cls.family), str(cls.device), ", ".join(cls.param_names),
             " ".join(params_key(point) for point in cls.default_rate_points),
             "no" if reasons[cls.name] else "yes")
            for cls in codecs
        ]
        widths = [max(len(row[column]) for row in rows) for column in range(len(COLUMNS))]
        for row in rows:
            self.stdout.write("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
        for cls in codecs:
            if reasons[cls.name] and not issubclass(cls, ManifestCodec):
                self.stdout.write(f"unavailable: {reasons[cls.name]}")
        messages = optional_part_messages("codecs")
        if messages:
            self.stdout.write(format_messages(messages))
        self.stdout.write(f"{len(codecs)} codecs.")
