"""Logging set-up: plain text for people, JSON lines for log collectors.

Both formats escape control characters in the rendered message (a newline becomes ``\\n``), so a value
from outside — a supplier's file name, a platform's error text — can never forge a log line, whichever
code path logged it. In text format, the lines of a traceback are indented, so none of them can pass
for a record of its own.

Context: :func:`log_context` names the stage, shop or supplier a piece of work runs for (the stage runner's
scope sets it); a filter on the handler copies it onto every record logged inside, from any logger, an adapter's
included. A line about one order passes ``extra=order_fields(shop, platform_order_id)``. JSON lines carry these
fields; the text format stays ``time level logger: message`` (the message already names its subject).
Timestamps have milliseconds in both formats; JSON's are UTC in ISO 8601.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from types import MappingProxyType

# C0 controls but tab, DEL, C1 controls (NEL among them) and the Unicode line and paragraph separators.
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r"}


def _escape_char(m: re.Match[str]) -> str:
    ch = m.group()
    return _NAMED.get(ch) or (f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")


def escape_controls(text: str) -> str:
    """``text`` with every control character (but tab) written as an escape: one line, nothing hidden."""
    return _CONTROL.sub(_escape_char, text)


# The fields a JSON line may carry besides time, level, logger and message, in this order.
CONTEXT_FIELDS = ("stage", "shop", "supplier", "order")
_context: ContextVar[Mapping[str, str]] = ContextVar("syncd_log_context",
                                                      default=MappingProxyType({}))


@contextmanager
def log_context(**fields: str | None) -> Iterator[None]:
    """Every record logged inside (in this thread or task) carries ``fields`` (those not None), over the
    enclosing context's. A thread pool's worker starts with an empty context: enter it inside the worker."""
    unknown = set(fields) - set(CONTEXT_FIELDS)
    if unknown:
        raise ValueError(f"unknown log context field(s): {', '.join(sorted(unknown))}")
    token = _context.set(MappingProxyType({**_context.get(), **{k: v for k, v in fields.items() if v is not None}}))
    try:
        yield
    finally:
        _context.reset(token)


def current_context() -> Mapping[str, str]:
    """The fields :func:`log_context` set for the running code."""
    return _context.get()


def order_fields(shop_id: str, platform_order_id: str) -> dict[str, str]:
    """``extra=`` for a line about one order: its shop, and the order as ``shop/platform id`` (the spelling of
    the messages)."""
    return {"shop": shop_id, "order": f"{shop_id}/{platform_order_id}"}


class ContextFilter(logging.Filter):
    """Copies the running :func:`log_context` onto each record; a field given by ``extra=`` wins."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _context.get().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


def _indent(block: str) -> str:
    return "\n".join("    " + escape_controls(line) for line in block.splitlines())


class TextFormatter(logging.Formatter):
    """``time level logger: message`` (time to the millisecond); the message escaped, tracebacks indented."""

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
    """One JSON object per line: time (UTC, ms), level, logger, message (escaped), the context fields the
    record carries (stage, shop, supplier, order) and the exception."""

    def format(self, record: logging.LogRecord) -> str:
        at = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        data = {"time": at.replace("+00:00", "Z"), "level": record.levelname, "logger": record.name,
                "message": escape_controls(record.getMessage())}
        for key in CONTEXT_FIELDS:
            value = getattr(record, key, None)
            if value is not None:
                data[key] = escape_controls(str(value))
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            data["stack"] = self.formatStack(record.stack_info)
        return json.dumps(data, ensure_ascii=False)


def setup_logging(level: str = "INFO", fmt: str = "text") -> None:
    """Log to stderr in ``fmt`` (``text`` or ``json``) at ``level``; quieten chatty libraries."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(ContextFilter())  # on the handler: it sees every logger's records, not only syncd's
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("httpx", "httpcore", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # "skipped: maximum number of running instances reached" is max_instances=1 doing its job
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
