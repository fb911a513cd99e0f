"""Metric kernels: the numerical code, free of Django (see ``metrics.registry`` for the contracts)."""
