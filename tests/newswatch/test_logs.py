"""Log format: text on a terminal, JSON lines otherwise; context fields kept, secret-looking ones hidden."""

from __future__ import annotations

import io
import json
import logging

from newswatch.logs import ContextFormatter, JsonFormatter, use_json


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def record(**extra: object) -> logging.LogRecord:
    entry = logging.LogRecord("newswatch.service", logging.INFO, __file__, 1, "polled: %d new", (2,), None)
    entry.__dict__.update(extra)
    return entry


def test_auto_is_text_on_a_terminal_and_json_elsewhere() -> None:
    assert use_json("auto", Terminal()) is False
    assert use_json("auto", io.StringIO()) is True
    assert use_json("json", Terminal()) is True
    assert use_json("human", io.StringIO()) is False


def test_json_lines_carry_the_context_and_hide_secrets() -> None:
    line = JsonFormatter().format(record(source="wire", rule="kremlin", webhook_secret="whsec_abc"))
    entry = json.loads(line)
    assert entry["message"] == "polled: 2 new" and entry["level"] == "info"
    assert entry["source"] == "wire" and entry["rule"] == "kremlin"
    assert entry["webhook_secret"] == "[redacted]" and "whsec_abc" not in line


def test_text_lines_carry_the_context_as_key_value() -> None:
    line = ContextFormatter("%(levelname)s %(message)s").format(record(source="wire", password="hunter2"))
    assert line == "INFO polled: 2 new source=wire password=[redacted]"
