"""What the studies commands share: finding the study a command names."""
from django.core.management.base import CommandError

from studies.models import Study


def study_named(name: str) -> Study:
    """The study called ``name``; ``CommandError`` naming the studies there are otherwise."""
    study = Study.objects.filter(name=name).first()
    if study is None:
        known = ", ".join(Study.objects.order_by("name").values_list("name", flat=True)) or "none yet"
        raise CommandError(f"no study named {name!r}; studies: {known}")
    return study
