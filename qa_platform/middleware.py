"""Answers for requests the server cannot serve right now."""
from django.db import InterfaceError, OperationalError
from django.http import HttpResponse

RETRY_AFTER_SECONDS = 5


class DatabaseUnavailableMiddleware:
    """A view that loses the database (a PostgreSQL restart, a dropped connection) answers
    503 with ``Retry-After`` instead of a 500 page: nothing was stored, and the client may
    send the same request again (the vote endpoint stores a repeated vote once)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, (OperationalError, InterfaceError)):
            return None
        response = HttpResponse(
            "The database is unavailable for a moment; try again in a few seconds.",
            status=503, content_type="text/plain; charset=utf-8",
        )
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
