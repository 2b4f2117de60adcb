"""Log formatting: a value from outside can never forge a log line, in text or JSON."""

from __future__ import annotations

import json
import logging
import sys

import pytest

from syncd.logs import JsonFormatter, TextFormatter, escape_controls

FORGED = "reply.csv\n2026-12-06 03:00:00,000 ERROR   syncd.collect: forged\r\x1b[2K\x85\u2028end"


def record(msg: str, *args: object, exc_info=None) -> logging.LogRecord:
    return logging.LogRecord("syncd.collect", logging.INFO, __file__, 1, msg, args, exc_info)


def test_text_message_with_newlines_and_escapes_stays_one_line():
    line = TextFormatter().format(record("inbox file %s moved", FORGED))
    assert "\n" not in line and "\r" not in line and "\x1b" not in line and "\u2028" not in line
    assert "reply.csv\\n2026-12-06" in line and "\\x1b[2K" in line and "\\x85" in line and "\\u2028end" in line


def test_json_message_is_escaped_before_it_is_encoded():
    out = JsonFormatter().format(record("inbox file %s moved", FORGED))
    assert "\n" not in out
    message = json.loads(out)["message"]
    assert "\n" not in message and "\x1b" not in message
    assert "reply.csv\\n2026-12-06" in message


def test_tab_is_kept():
    assert escape_controls("a\tb") == "a\tb"


def test_traceback_lines_are_indented_so_none_passes_for_a_record():
    try:
        raise ValueError("bad name\n2026-12-06 03:00:00,000 ERROR   syncd: forged")
    except ValueError:
        exc = sys.exc_info()
    text = TextFormatter().format(record("stage failed", exc_info=exc))
    first, *rest = text.split("\n")
    assert first.endswith("stage failed")
    assert rest and all(line.startswith("    ") for line in rest)


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_setup_logging_installs_the_escaping_formatter(fmt):
    from syncd.logs import setup_logging

    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    try:
        setup_logging("INFO", fmt)
        assert isinstance(root.handlers[0].formatter, JsonFormatter if fmt == "json" else TextFormatter)
    finally:
        root.handlers[:] = saved
        root.setLevel(level)
