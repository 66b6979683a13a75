"""One JSON line per delivery attempt, with the attempt's fields, for your log pipeline."""

from __future__ import annotations

import json
import logging
import sys
from typing import TextIO

# Every attempt's record (logger "webhook_kit.delivery") carries these as attributes.
FIELDS = (
    "webhook_id",
    "webhook_event",
    "attempt",
    "status",
    "error",
    "latency",
    "outcome",
    "next_attempt_at",
    "reason",
)


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": record.created,
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({name: getattr(record, name) for name in FIELDS if hasattr(record, name)})
        return json.dumps(entry)


def log_attempts_as_json(stream: TextIO = sys.stderr) -> logging.Handler:
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLines())
    logger = logging.getLogger("webhook_kit")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)  # one record per attempt: INFO, a dead letter WARNING
    return handler
