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
