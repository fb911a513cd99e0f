"""Checks of the optional parts (external codec programs, metric weights): shown when asked, not before every command.

Django runs every registered system check before each management command. A
missing optional part is not an error (the codec or metric is reported
unavailable), so its warnings would open the output of every command. Their
check functions register here instead, per part (``@register("codecs")``), and
are shown by ``manage.py check`` (which includes them in Django's system checks
through ``included_in_system_checks``), ``list_codecs``, ``fetch_weights --list``
and the demo. An app adds its own from ``AppConfig.ready()``, as it does its
Django checks, so this module needs no import of the apps that contribute.
"""
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.core import checks

OptionalPartCheck = Callable[[], list[checks.CheckMessage]]

# Part name -> its check functions, in registration order.
_registry: dict[str, list[OptionalPartCheck]] = {}
# True while ``included_in_system_checks`` is open.
_included: ContextVar[bool] = ContextVar("optional_parts_included", default=False)

TAG = "optional_parts"


def register(part: str) -> Callable[[OptionalPartCheck], OptionalPartCheck]:
    """Decorator: add a check function (no arguments, returns check messages) of the optional part ``part``."""
    def add(check: OptionalPartCheck) -> OptionalPartCheck:
        checks_of_part = _registry.setdefault(part, [])
        if check not in checks_of_part:
            checks_of_part.append(check)
        return check
    return add


def optional_part_messages(*parts: str) -> list[checks.CheckMessage]:
    """The messages of the checks of ``parts`` (default: every part), part by part in registration order.

    Raises ``KeyError`` for a part nothing registered.
    """
    chosen = parts or tuple(_registry)
    return [message for part in chosen for check in _registry[part] for message in check()]


def format_messages(messages: Iterable[checks.CheckMessage], *, hints: bool = True) -> str:
    """``messages`` one per line as ``manage.py check`` writes them (``obj: (id) message``, then a tab-indented
    ``HINT:`` line); ``hints=False``: ``(id) message`` only, one line each."""
    if hints:
        return "\n".join(str(message) for message in messages)
    return "\n".join(f"({message.id}) {message.msg}" for message in messages)


@contextmanager
def included_in_system_checks() -> Iterator[None]:
    """Within this block Django's system checks (``checks.run_checks``) include the optional parts' messages."""
    token = _included.set(True)
    try:
        yield
    finally:
        _included.reset(token)


@checks.register(TAG)
def optional_parts_check(app_configs, **kwargs) -> list[checks.CheckMessage]:
    """The optional parts' messages inside ``included_in_system_checks`` (``manage.py check``); none elsewhere."""
    return optional_part_messages() if _included.get() else []
