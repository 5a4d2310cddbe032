"""Log formatting: one JSON object per line in production, readable text in development.

LEADOPS_LOG_FORMAT=json|plain picks the formatter (settings). Fields passed with ``extra=`` (the
``event`` name and the ids that matter) become JSON keys, or ``key=value`` pairs in plain text.
"""

from __future__ import annotations

import logging

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}
_HIDDEN = {"request", "server_time"}  # Django puts the request object on django.request records


def extra_fields(record: logging.LogRecord) -> dict[str, object]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and k not in _HIDDEN}


class PlainFormatter(logging.Formatter):
    """``time level logger message key=value ...`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = extra_fields(record)
        if fields:
            line += " " + " ".join(f"{k}={v}" for k, v in fields.items())
        return line


def json_formatter() -> logging.Formatter:
    from pythonjsonlogger.json import JsonFormatter

    return JsonFormatter(
        "%(levelname)s %(name)s %(message)s",
        timestamp="time",  # UTC with offset, e.g. "2026-12-01 03:05:41.192818+00:00"
        rename_fields={"levelname": "level", "name": "logger"},
        reserved_attrs=[*_STANDARD, *_HIDDEN],
        json_default=str,
    )


class ExpectedForbiddenFilter(logging.Filter):
    """Expected answers are not errors. A 403 (a role without access, a failed CSRF check) keeps
    its one warning line without the traceback Django attaches to PermissionDenied; a 503 from
    the readiness endpoint is its answer, polled every few seconds, so Django's request log
    line for it is dropped (the failing check is in the response body and the metrics)."""

    def filter(self, record: logging.LogRecord) -> bool:
        request = getattr(record, "request", None)
        if record.name == "django.request" and getattr(request, "path", "").startswith("/health/"):
            return False
        if getattr(record, "status_code", None) == 403:
            record.exc_info = None
            record.exc_text = None
        return True
