"""Log formatting: a value from outside can never forge a log line, in text or JSON."""

from __future__ import annotations

import json
import logging
import re
import sys

import pytest

from syncd.logs import ContextFilter, JsonFormatter, TextFormatter, current_context, escape_controls, log_context

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


def test_json_time_is_utc_to_the_millisecond():
    rec = record("x")
    rec.created = 1796526000.1234  # 2026-12-06T03:00:00.123 UTC
    assert json.loads(JsonFormatter().format(rec))["time"] == "2026-12-06T03:00:00.123Z"


def test_text_time_keeps_its_format_with_milliseconds():
    rec = record("x")
    line = TextFormatter().format(rec)
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO    syncd.collect: x$", line)


def test_json_line_given_a_log_context_carries_its_fields_and_extra_order_wins_over_none():
    rec = record("order %s held", "shop1/42")
    rec.order = "shop1/42"
    with log_context(stage="route", shop="shop1"), log_context(supplier=None):
        ContextFilter().filter(rec)
    data = json.loads(JsonFormatter().format(rec))
    assert (data["stage"], data["shop"], data["order"]) == ("route", "shop1", "shop1/42")
    assert "supplier" not in data


def test_extra_field_given_on_the_record_is_not_overwritten_by_the_context():
    rec = record("x")
    rec.shop = "from-extra"
    with log_context(shop="from-scope"):
        ContextFilter().filter(rec)
    assert rec.shop == "from-extra"


def test_log_context_ends_with_its_block_and_rejects_an_unknown_field():
    with log_context(stage="pull"):
        assert current_context() == {"stage": "pull"}
    assert current_context() == {}
    with pytest.raises(ValueError, match="phone"), log_context(phone="138"):
        pass


def test_json_context_value_with_control_characters_is_escaped():
    rec = record("x")
    rec.supplier = "acme\nforged"
    assert json.loads(JsonFormatter().format(rec))["supplier"] == "acme\\nforged"
