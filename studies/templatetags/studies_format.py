from django import template
from django.utils.html import format_html

register = template.Library()


@register.filter
def estimate(row: dict, stat: str) -> str:
    """``row[stat]`` with its 95 % interval ``[row[stat_low], row[stat_high]]``, or a dash when undefined."""
    value, low, high = row.get(stat), row.get(f"{stat}_low"), row.get(f"{stat}_high")
    if value is None:
        return "–"
    if low is None or high is None:
        return format_html("<span class='value'>{}</span>", f"{value:.3f}")
    return format_html("<span class='value'>{}</span> [{}, {}]", f"{value:.3f}", f"{low:.3f}", f"{high:.3f}")


@register.filter
def fixed(value, digits: int) -> str:
    """``value`` with ``digits`` decimals, blank when None: ``floatformat`` without
    its localisation, which costs most of a page of a thousand rows."""
    return "" if value is None else f"{float(value):.{int(digits)}f}"
