"""System checks of the metrics app (``manage.py check``)."""
from django.core import checks

from metrics.registry import all_metrics
from metrics.weights import FETCH_COMMAND, missing_weights


@checks.register()
def metric_weights_check(app_configs, **kwargs):
    """metrics.W001 for each metric whose weight files are not installed."""
    warnings = []
    for spec in all_metrics().values():
        missing = missing_weights(spec.weights)
        if missing:
            files = ", ".join(str(weight.path()) for weight in missing)
            warnings.append(checks.Warning(
                f"{spec.label} weights missing ({files}); {spec.name} will be reported unavailable.",
                hint=f"Run `{FETCH_COMMAND}` (offline: `{FETCH_COMMAND} --from DIR`).",
                id="metrics.W001",
            ))
    return warnings
