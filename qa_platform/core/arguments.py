"""Parsing what people type: command options and environment variables."""


def comma_list(text: str | None) -> list[str]:
    """The items of a comma-separated list, stripped, blanks dropped: ``"a, b,,c"`` -> ``["a", "b", "c"]``.

    ``None`` and ``""`` give ``[]``.
    """
    return [item.strip() for item in (text or "").split(",") if item.strip()]
