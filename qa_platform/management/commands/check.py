from django.core.management.commands import check

from qa_platform.core import optional_parts


class Command(check.Command):
    help = (check.Command.help + " Includes the optional parts that other commands do not check "
            f"(codec programs, metric weights; alone: --tag {optional_parts.TAG}).")

    def handle(self, *app_labels, **options):
        with optional_parts.included_in_system_checks():
            super().handle(*app_labels, **options)
