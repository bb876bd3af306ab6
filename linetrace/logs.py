"""The one logging setup of every linetrace process: plain text, or one JSON object a line.

``linetrace --log-format json`` (or ``LINETRACE_LOG_FORMAT=json``) makes every record a
JSON object on one line, for a log shipper (journald → Loki, Vector, Fluent Bit) to read
without parsing text: ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message``,
``process`` (the pid), and ``exception`` (the traceback) when there is one; values passed
in ``extra=`` come along as fields of their own.

The chosen format is written back to the environment, so the child processes of a
service (capture, decode workers, the ingest's receiver, the relay), which start fresh
interpreters and call :func:`configure_logging` themselves, follow the parent.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import IO, Final, Literal, cast, get_args

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

from linetrace.errors import ConfigError

__all__ = ["ENV_FORMAT", "FORMATS", "LogFormat", "configure_logging", "formatter", "log_format"]

LogFormat = Literal["text", "json"]
FORMATS: Final[tuple[str, ...]] = get_args(LogFormat)
ENV_FORMAT = "LINETRACE_LOG_FORMAT"
TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Record attributes never exported: the standard ones not asked for, and uvicorn's copy
# of its message with terminal colours.
_LEFT_OUT = (*RESERVED_ATTRS, "color_message")


def log_format(value: str | None = None) -> LogFormat:
    """``value``, else ``$LINETRACE_LOG_FORMAT``, else text; ConfigError if unknown."""
    chosen = value if value is not None else os.environ.get(ENV_FORMAT) or "text"
    if chosen not in FORMATS:
        source = "--log-format" if value is not None else ENV_FORMAT
        raise ConfigError(
            [f"{source}: {chosen!r} is not one of {', '.join(FORMATS)}"], "the log format"
        )
    return cast(LogFormat, chosen)


def formatter(kind: LogFormat) -> logging.Formatter:
    """The formatter of ``kind``."""
    if kind == "text":
        return logging.Formatter(TEXT)
    return JsonFormatter(
        "{levelname}{name}{message}{process}",
        style="{",
        rename_fields={"levelname": "level", "name": "logger", "exc_info": "exception"},
        timestamp="time",
        reserved_attrs=_LEFT_OUT,
    )


def configure_logging(
    level: int | str = logging.INFO, kind: str | None = None, stream: IO[str] | None = None
) -> LogFormat:
    """Set up the root logger (replacing its handlers) and return the format chosen.

    ``kind`` None takes the environment's; either way the choice is exported to the
    environment for the child processes started after this call.
    """
    chosen = log_format(kind)
    os.environ[ENV_FORMAT] = chosen
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(formatter(chosen))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    return chosen
