"""Logging set-up: plain text for people, JSON lines for log collectors.

Both formats escape control characters in the rendered message (a newline becomes ``\\n``), so a value
from outside — a supplier's file name, a platform's error text — can never forge a log line, whichever
code path logged it. In text format, the lines of a traceback are indented, so none of them can pass
for a record of its own.
"""

from __future__ import annotations

import json
import logging
import re
import sys

# C0 controls but tab, DEL, C1 controls (NEL among them) and the Unicode line and paragraph separators.
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r"}


def _escape_char(m: re.Match[str]) -> str:
    ch = m.group()
    return _NAMED.get(ch) or (f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")


def escape_controls(text: str) -> str:
    """``text`` with every control character (but tab) written as an escape: one line, nothing hidden."""
    return _CONTROL.sub(_escape_char, text)


def _indent(block: str) -> str:
    return "\n".join("    " + escape_controls(line) for line in block.splitlines())


class TextFormatter(logging.Formatter):
    """``time level logger: message``; the message escaped, tracebacks indented below it."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = escape_controls(record.message)
        return super().formatMessage(record)

    def formatException(self, ei: logging._SysExcInfoType) -> str:
        return _indent(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:
        return _indent(super().formatStack(stack_info))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message (escaped) and exception."""

    def format(self, record: logging.LogRecord) -> str:
        data = {"time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"), "level": record.levelname,
                "logger": record.name, "message": escape_controls(record.getMessage())}
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


def setup_logging(level: str = "INFO", fmt: str = "text") -> None:
    """Log to stderr in ``fmt`` (``text`` or ``json``) at ``level``; quieten chatty libraries."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("httpx", "httpcore", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # "skipped: maximum number of running instances reached" is max_instances=1 doing its job
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
