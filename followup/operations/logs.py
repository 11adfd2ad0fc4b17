"""Log lines operators can use: with `FOLLOWUP_LOG_FORMAT=json`, one JSON object per
event on every process (web, worker, beat), carrying the Celery task id or the web
request id; the twilio client's request lines (URLs and headers at INFO) off unless
`FOLLOWUP_LOG_PROVIDER_REQUESTS` is on.

Our own code never logs a phone number, an email or a reply's words; the formatter
also masks anything shaped like a phone number or an email that another library's
line may carry.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from celery import current_task

from followup.config import Settings

# The request a web process is answering, for its log lines.
request_id: ContextVar[str | None] = ContextVar("followup_request_id", default=None)

# E.164 (+12015550100) and the US forms (201) 555-0100, 201-555-0100, 201.555.0100.
PHONE = re.compile(r"\+\d{8,15}\b|(?<!\d)\(?\d{3}\)?[ .-]?\d{3}[.-]\d{4}\b")
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
TWILIO_LOGGER = "twilio.http_client"


def mask(text: str) -> str:
    """`text` with phone numbers and emails replaced by what they are."""
    return PHONE.sub("[phone]", EMAIL.sub("[email]", text))


def new_request_id(offered: str | None) -> str:
    """The caller's X-Request-ID if it is a plain token, otherwise a new one."""
    if offered and re.fullmatch(r"[A-Za-z0-9._-]{1,64}", offered):
        return offered
    return uuid.uuid4().hex


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, process and the ids."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": mask(record.getMessage()),
            "process": record.processName,
            "pid": record.process,
        }
        task = current_task
        if task and task.request.id:
            line["task_id"] = task.request.id
            line["task"] = task.name
        if (rid := request_id.get()) is not None:
            line["request_id"] = rid
        if record.exc_info:
            line["error"] = mask(self.formatException(record.exc_info))
        return json.dumps(line, ensure_ascii=False)


class MaskingFormatter(logging.Formatter):
    """The plain format, with the same masking as the JSON lines."""

    def format(self, record: logging.LogRecord) -> str:
        return mask(super().format(record))


def formatter(settings: Settings, plain: str) -> logging.Formatter:
    return JsonFormatter() if settings.log_format == "json" else MaskingFormatter(plain)


def quiet_provider_clients(settings: Settings) -> None:
    """The twilio client logs each request's URL and headers at INFO: off by default."""
    level = logging.INFO if settings.log_provider_requests else logging.WARNING
    logging.getLogger(TWILIO_LOGGER).setLevel(level)


def use_formatter(logger: logging.Logger, settings: Settings, plain: str) -> None:
    """Give every handler of `logger` our formatter (Celery set the handlers up)."""
    for handler in logger.handlers:
        handler.setFormatter(formatter(settings, plain))
    # Python's warnings (Celery's about running as root, say) become log lines too.
    logging.captureWarnings(settings.log_format == "json")
    quiet_provider_clients(settings)


def uvicorn_log_config(settings: Settings) -> dict[str, Any]:
    """uvicorn's logging, with our formatter on its lines and the root logger's."""
    kind = "followup.operations.logs.JsonFormatter"
    if settings.log_format != "json":
        kind = "followup.operations.logs.MaskingFormatter"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "line": {"()": kind, "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s"}
        },
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "line"}},
        "root": {"handlers": ["stderr"], "level": "INFO"},
        "loggers": {
            "uvicorn": {"level": "INFO"},
            TWILIO_LOGGER: {"level": "INFO" if settings.log_provider_requests else "WARNING"},
        },
    }
