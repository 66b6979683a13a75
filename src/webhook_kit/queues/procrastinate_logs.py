"""procrastinate's own log records, with every webhook's target URL masked.

procrastinate logs each job it defers, starts, retries and finishes with the job's arguments:
its message quotes the call (``webhook_kit.deliver[7](delivery_id=…, event='{…}')``) and its
structured fields (``job``, ``jobs``) carry them as data. A webhook's stored event holds the
target URL whole — the next attempt needs it — so those records would carry the URL's
credentials and query string. `install` puts a filter on procrastinate's loggers that rewrites
every ``"target_url":"…"`` in a record (message, arguments, extra fields, at any depth) to the
masked URL; the job in the database keeps the real one.

A filter on a logger applies to that logger's records only, not its children's, so the filter
goes on each of procrastinate's module loggers and on the worker's child logger, which is
named after the worker (`install_on_worker`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

from ..url_masking import masked_url

__all__ = ["MaskTargetUrls", "install", "install_on_worker", "masked_job_text"]

# procrastinate's modules that log (each logs on ``logging.getLogger(__name__)``).
_MODULES = (
    "app",
    "blueprints",
    "cli",
    "jobs",
    "manager",
    "periodic",
    "psycopg_connector",
    "signals",
    "sync_psycopg_connector",
    "tasks",
    "utils",
    "worker",
)

# The target URL in an event's JSON, also as it appears inside a repr of that JSON (where
# each backslash is doubled): everything up to the closing unescaped quote.
_TARGET_URL = re.compile(r'("target_url"\s*:\s*")((?:[^"\\]|\\.)*)(")')

# Above this depth, extra fields are not searched further (procrastinate nests two levels).
_MAX_DEPTH = 8


def masked_job_text(text: str) -> str:
    """``text`` with each ``"target_url":"…"`` in it masked."""
    if "target_url" not in text:
        return text
    return _TARGET_URL.sub(_masked_match, text)


def _masked_match(match: re.Match[str]) -> str:
    # The masked form can hold no quote or backslash that would end the JSON string early.
    shown = masked_url(match[2]).replace("\\", "%5C").replace('"', "%22")
    return f"{match[1]}{shown}{match[3]}"


def _masked(value: Any, depth: int = 0) -> Any:
    if isinstance(value, str):
        return masked_job_text(value)
    if depth >= _MAX_DEPTH:
        return value
    if isinstance(value, dict):
        return {key: _masked(item, depth + 1) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_masked(item, depth + 1) for item in value)
    return value


# Attributes every LogRecord has; all others came from ``extra=`` and may hold job data.
_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class MaskTargetUrls(logging.Filter):
    """Masks the target URL of every webhook job a procrastinate log record mentions."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite ``record`` in place; never drop it."""
        if isinstance(record.msg, str):
            record.msg = masked_job_text(record.msg)
        if record.args:
            record.args = _masked(record.args)
        for name, value in list(vars(record).items()):
            if name not in _STANDARD:
                setattr(record, name, _masked(value))
        return True


_FILTER = MaskTargetUrls()


def _add_to(loggers: Iterable[logging.Logger]) -> None:
    for logger in loggers:
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


def install() -> None:
    """Put the filter on procrastinate's package logger and each of its module loggers."""
    known = ("procrastinate", *(f"procrastinate.{module}" for module in _MODULES))
    # And any logger of procrastinate's already made (a module this list does not know).
    made = [
        name for name in logging.Logger.manager.loggerDict if name.startswith("procrastinate.")
    ]
    _add_to(logging.getLogger(name) for name in (*known, *made))


def install_on_worker(name: str | None) -> None:
    """Put the filter on the logger of procrastinate's worker named ``name`` as well."""
    if name:
        _add_to([logging.getLogger("procrastinate.worker").getChild(name)])
