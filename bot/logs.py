"""Log lines: text for people (the default) or one JSON object per line for log collectors.

Every line logged while a message is handled carries that message's id (``handling``), in both
formats, so all that one message caused can be found with one search. Log calls name ids, never
what a customer wrote or their phone number: the formatter cannot tell personal data apart, the
call sites must not pass it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import time
from collections.abc import Iterator
from contextvars import ContextVar
from typing import IO

LOG_FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# The platform's id of the message being handled; asyncio copies it into the tasks a handler starts.
_message_id: ContextVar[str] = ContextVar("kefu_message_id", default="")


@contextlib.contextmanager
def handling(message_id: str) -> Iterator[None]:
    """Lines logged inside name ``message_id``."""
    token = _message_id.set(message_id)
    try:
        yield
    finally:
        _message_id.reset(token)


class _MessageIdFilter(logging.Filter):
    """Puts the current message id on each record (``record.message_id``, "" outside a message)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.message_id = _message_id.get()
        return True


_QUERY_TOKEN = re.compile(r"([?&]token=)[^&\s\"]*")


class _QueryTokenFilter(logging.Filter):
    """Hides a ``token=`` query value (the dashboard's) in any line, uvicorn's access lines first."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_QUERY_TOKEN.sub(r"\1***", a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = _QUERY_TOKEN.sub(r"\1***", record.msg)
        return True


class _TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        message_id = getattr(record, "message_id", "")
        return f"{line} [message {message_id}]" if message_id else line


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message"}``, plus ``message_id`` while a message is handled
    and ``exception`` (the traceback) when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        message_id = getattr(record, "message_id", "")
        if message_id:
            entry["message_id"] = message_id
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False)


def log_handler(log_format: str, stream: IO[str] | None = None) -> logging.Handler:
    """A handler writing ``log_format`` lines to ``stream`` (stderr), message ids included."""
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log format {log_format!r}: use one of {', '.join(LOG_FORMATS)}")
    handler = logging.StreamHandler(stream)
    handler.addFilter(_MessageIdFilter())
    handler.addFilter(_QueryTokenFilter())
    handler.setFormatter(JsonFormatter() if log_format == "json" else _TextFormatter(TEXT_FORMAT))
    return handler


def configure_logging(level: str, log_format: str = "text") -> None:
    """The root logger writes to stderr in ``log_format``; every logger's lines go through it
    (uvicorn's too, when it is given no logging configuration of its own)."""
    logging.basicConfig(level=level, handlers=[log_handler(log_format)], force=True)
