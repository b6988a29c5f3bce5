"""The log view's reader: newest entries of the daily JSON files, level filter, broken lines survive."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from kitsu_tui.telemetry.logs import DailyFileHandler, read_log_lines, setup_logging


@pytest.fixture
def log_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "logs"
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, DailyFileHandler):
            root.removeHandler(handler)
            handler.close()


def test_reads_back_what_was_logged(log_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KITSU_TWITCH_ACCESS_TOKEN", "abcd1234secret")
    setup_logging(log_dir)
    log = logging.getLogger("kitsu_tui.test")
    for index in range(5):
        log.info("turn %d done", index, extra={"turn": index})
    log.warning("token is abcd1234secret")
    entries = read_log_lines(log_dir, limit=3)
    assert [e["message"] for e in entries] == ["turn 3 done", "turn 4 done", "token is ***"]
    assert entries[0]["extras"] == {"turn": 3} and entries[0]["logger"] == "kitsu_tui.test"
    assert [e["message"] for e in read_log_lines(log_dir, min_level="warning")] == ["token is ***"]


def test_spans_days_and_survives_broken_lines(tmp_path: Path) -> None:
    (tmp_path / "kitsu-2025-01-01.jsonl").write_text(
        '{"level": "INFO", "message": "old day"}\n{"level": "INFO", "message": "end of day"}\n')
    (tmp_path / "kitsu-2025-01-02.jsonl").write_text('{"level": "INFO", "message": "new day"}\n{"level": "IN\n\n')
    (tmp_path / "other.txt").write_text("not a log\n")
    entries = read_log_lines(tmp_path, limit=3)
    assert [e["message"] for e in entries] == ["end of day", "new day", "kitsu-2025-01-02.jsonl:2: unreadable log line"]
    assert entries[-1]["level"] == "ERROR"
    assert read_log_lines(tmp_path / "missing") == []


def test_json_lines_stay_valid_when_a_key_looks_like_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only string values are redacted: `"llm_first_token": 123.4` survives, an OAuth token in a message does not."""
    import json

    from kitsu_tui.telemetry.logs import JsonFormatter

    monkeypatch.setenv("KITSU_TWITCH_ACCESS_TOKEN", "oauth-secret-value-123")
    record = logging.LogRecord("kitsu.test", logging.INFO, __file__, 1, "token is oauth-secret-value-123", None, None)
    record.llm_first_token = 123.4
    line = JsonFormatter().format(record)
    payload = json.loads(line)
    assert payload["extras"]["llm_first_token"] == 123.4
    assert "oauth-secret-value-123" not in line and "***" in payload["message"]
