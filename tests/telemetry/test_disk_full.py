"""A full log disk never stops the show: real ENOSPC (/dev/full over the log's descriptor, a tiny tmpfs) costs lines, not threads."""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kitsu_tui.telemetry.diskfault import fill_disk, open_fds_under
from kitsu_tui.telemetry.jsonl import JsonlWriter
from kitsu_tui.telemetry.logs import DailyFileHandler, JsonFormatter, read_log_lines, setup_logging

from ..integrations.obs_peer import free_port

FAULT_WARNING = "cannot write the log file"


def wait_until(check: Callable[[], object], what: str, limit_s: float = 5.0) -> None:
    """Poll `check` until it is truthy."""
    deadline = time.monotonic() + limit_s
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def json_lines(path: Path) -> list[dict[str, Any]]:
    """Every line of a JSONL file, parsed (a line that is not JSON fails the test)."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def quiet_logger(monkeypatch: pytest.MonkeyPatch) -> Iterator[logging.Logger]:
    """A logger of its own (not propagating), so only the handler under test sees its records; the root logger
    has no handlers meanwhile (an earlier in-process CLI test may have left a console handler on a closed stream,
    and the handler under test tells kitsu's console handlers, else stderr)."""
    monkeypatch.setattr(logging.getLogger(), "handlers", [])
    logger = logging.getLogger("kitsu.test.diskfull")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    yield logger
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    logger.propagate = True


def file_handler(logger: logging.Logger, directory: Path) -> DailyFileHandler:
    """A DailyFileHandler that retries at once, attached to `logger`."""
    handler = DailyFileHandler(directory, retry_s=0.0)
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    return handler


@pytest.fixture
def tiny_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs (a real disk that fills up); skipped where mounting is not permitted."""
    mount = shutil.which("mount")
    point = tmp_path / "tiny"
    point.mkdir()
    if mount is None:
        pytest.skip("no mount command")
    result = subprocess.run([mount, "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(point)], capture_output=True,
                            text=True, check=False)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip() or result.returncode}")
    try:
        yield point
    finally:
        subprocess.run(["umount", "-l", str(point)], capture_output=True, check=False)


def fill(folder: Path) -> Path:
    """Write a filler file until the file system under `folder` is full; the filler (delete it to free space)."""
    filler = folder / "filler"
    with filler.open("wb", buffering=0) as file:
        try:
            while True:
                file.write(b"x" * 1024)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


def test_a_full_disk_drops_log_lines_says_so_once_and_counts_them_when_it_writes_again(
        tmp_path: Path, quiet_logger: logging.Logger, capsys: pytest.CaptureFixture[str]) -> None:
    handler = file_handler(quiet_logger, tmp_path)
    for n in range(3):
        quiet_logger.info("before %d", n)
    with fill_disk(tmp_path) as fault:
        assert fault.faulted, "the log file was not open under the folder"
        for n in range(50):
            quiet_logger.info("lost %d", n)
        assert handler.failing.startswith("OSError: [Errno 28]")
    quiet_logger.info("after")
    err = capsys.readouterr().err
    assert err.count(FAULT_WARNING) == 1, err
    assert "Traceback" not in err and "Logging error" not in err, err
    assert "50 log lines were dropped" in err
    lines = json_lines(handler.path_for(handler._day))
    assert [line["message"] for line in lines] == [
        "before 0", "before 1", "before 2",
        "50 log lines dropped while the log file could not be written (OSError: [Errno 28] No space left on device)",
        "after"]
    assert lines[3]["level"] == "WARNING" and lines[3]["extras"] == {"dropped": 50}
    assert (handler.failing, handler.dropped, handler.dropped_total) == ("", 0, 50)


def test_the_warning_goes_to_the_console_handler_when_there_is_one(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    setup_logging(tmp_path, stderr_level=logging.WARNING)
    handler = next(h for h in root.handlers if isinstance(h, DailyFileHandler))
    handler.retry_s = 0.0
    log = logging.getLogger("kitsu.test.console")
    try:
        log.info("the file is open")
        with fill_disk(tmp_path):
            for n in range(20):
                log.info("turn %d", n)
        log.info("written again")
    finally:
        for each in list(root.handlers):
            if isinstance(each, DailyFileHandler) or type(each).__name__ == "_ConsoleHandler":
                root.removeHandler(each)
                each.close()
    err = capsys.readouterr().err
    assert err.count(f"kitsu: WARNING kitsu.logs: {FAULT_WARNING}") == 1, err
    assert "Traceback" not in err and "Logging error" not in err
    assert [e["message"] for e in read_log_lines(tmp_path)][-2:] == [
        "20 log lines dropped while the log file could not be written (OSError: [Errno 28] No space left on device)",
        "written again"]


def test_failing_lines_are_not_retried_until_retry_s_passes(tmp_path: Path, quiet_logger: logging.Logger,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    handler = file_handler(quiet_logger, tmp_path)
    handler.retry_s = 0.2
    quiet_logger.info("opened")
    with fill_disk(tmp_path):
        quiet_logger.info("fails")
    quiet_logger.info("dropped without trying: the retry is not due")
    assert handler.failing and handler.dropped == 2
    time.sleep(0.25)
    quiet_logger.info("retried")
    assert [e["message"] for e in json_lines(handler.path_for(handler._day))][1:] == [
        "2 log lines dropped while the log file could not be written (OSError: [Errno 28] No space left on device)",
        "retried"]
    assert capsys.readouterr().err.count(FAULT_WARNING) == 1


def test_a_line_torn_by_a_killed_process_does_not_swallow_the_next_one(tmp_path: Path,
                                                                       quiet_logger: logging.Logger) -> None:
    handler = file_handler(quiet_logger, tmp_path)
    day = time.strftime("%Y-%m-%d", time.gmtime())
    handler.path_for(day).write_text('{"level": "INFO", "message": "whole"}\n{"level": "INFO", "mess')
    quiet_logger.info("first line of the next process")
    messages = [e["message"] for e in read_log_lines(tmp_path)]
    assert messages == ["whole", f"kitsu-{day}.jsonl:2: unreadable log line", "first line of the next process"]


def test_show_log_writer_drops_records_on_enospc_then_writes_a_gap_record(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.WARNING, logger="kitsu.showlog")
    path = tmp_path / "shows" / "show.jsonl"
    writer = JsonlWriter(path, retry_s=0.05)
    writer.start()
    for n in range(5):
        writer.put({"kind": "turn", "n": n})
    wait_until(lambda: writer.written == 5, "the first records")
    with fill_disk(tmp_path):
        for n in range(5, 25):
            writer.put({"kind": "turn", "n": n})
            time.sleep(0.005)
        wait_until(lambda: writer.dropped == 20, "the records to be dropped")
        assert writer.failing.startswith("OSError: [Errno 28]")
        assert writer._thread is not None and writer._thread.is_alive()
    time.sleep(0.1)
    writer.put({"kind": "turn", "n": 25})
    writer.close()
    lines = json_lines(path)
    assert [line.get("n") for line in lines] == [0, 1, 2, 3, 4, None, 25]
    assert lines[5] == {"kind": "showlog_gap", "lost": 20, "error": writer_error(lines[5])}
    assert (writer.accepted, writer.written, writer.dropped, writer.failing) == (26, 6, 20, "")
    warnings = [r.getMessage() for r in caplog.records if r.name == "kitsu.showlog"]
    assert len(warnings) == 2 and "the show goes on" in warnings[0] and "losing 20 records" in warnings[1]
    err = capsys.readouterr().err  # no console handler here: stderr gets the same two lines
    assert err.count("kitsu: show log: cannot write") == 1 and err.count("after losing 20 records") == 1, err


def writer_error(gap: dict[str, Any]) -> str:
    """The gap record's error, checked to be the ENOSPC one."""
    error = str(gap["error"])
    assert error.startswith("OSError: [Errno 28]"), error
    return error


def test_show_log_cuts_a_torn_last_line_before_appending(tmp_path: Path) -> None:
    path = tmp_path / "show.jsonl"
    path.write_text('{"kind": "show_started"}\n{"kind": "turn", "rec')
    writer = JsonlWriter(path)
    writer.start()
    writer.put({"kind": "turn", "n": 1})
    writer.close()
    assert json_lines(path) == [{"kind": "show_started"}, {"kind": "turn", "n": 1}]


def test_a_record_that_is_not_json_costs_only_itself(tmp_path: Path) -> None:
    looped: dict[str, Any] = {"kind": "turn"}
    looped["self"] = looped
    writer = JsonlWriter(tmp_path / "show.jsonl")
    writer.start()
    writer.put(looped)
    writer.put({"kind": "turn", "n": 2})
    writer.close()
    assert json_lines(tmp_path / "show.jsonl") == [{"kind": "turn", "n": 2}]
    assert (writer.written, writer.dropped) == (1, 1)


def test_on_a_real_full_tmpfs_both_writers_lose_lines_not_their_files(tiny_tmpfs: Path, quiet_logger: logging.Logger,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    handler = file_handler(quiet_logger, tiny_tmpfs)
    writer = JsonlWriter(tiny_tmpfs / "shows" / "show.jsonl", retry_s=0.0)
    writer.start()
    quiet_logger.info("before")
    writer.put({"kind": "show_started"})
    wait_until(lambda: writer.written == 1, "the show header")
    filler = fill(tiny_tmpfs)
    for n in range(200):  # fills the last pages of both files, then ENOSPC (some lines torn mid-way)
        quiet_logger.info("line %d %s", n, "y" * 200)
        writer.put({"kind": "turn", "n": n, "pad": "z" * 200})
    wait_until(lambda: writer.written + writer.dropped == 201, "the writer to take every record")
    assert handler.failing and writer.failing
    assert writer._thread is not None and writer._thread.is_alive()
    filler.unlink()
    quiet_logger.info("after")
    writer.put({"kind": "turn", "n": "after"})
    writer.close()

    records = json_lines(writer.path)  # every line whole: a torn one was cut off before the gap record
    gaps = [r for r in records if r["kind"] == "showlog_gap"]
    assert len(gaps) == 1 and gaps[0]["lost"] == writer.dropped > 0
    assert records[-1] == {"kind": "turn", "n": "after"}
    assert len(records) == writer.written + len(gaps)

    entries = read_log_lines(tiny_tmpfs, limit=1000)
    whole = [e for e in entries if e.get("logger") != "kitsu.logs"]
    assert [e["message"] for e in whole][0] == "before" and whole[-1]["message"] == "after"
    dropped = [e for e in entries if e.get("extras", {}).get("dropped")]
    assert len(dropped) == 1 and dropped[0]["extras"]["dropped"] == handler.dropped_total > 0
    assert len(whole) - 2 + handler.dropped_total == 200  # each line is either in the file or counted as dropped
    err = capsys.readouterr().err
    assert err.count(FAULT_WARNING) == 1 and "Traceback" not in err, err


def test_fill_disk_faults_files_under_the_folder_only_and_gives_them_back(tmp_path: Path) -> None:
    under, outside = tmp_path / "logs", tmp_path / "other"
    under.mkdir()
    outside.mkdir()
    before = len(os.listdir("/proc/self/fd"))
    with (under / "a.log").open("ab", buffering=0) as logged, (outside / "b.log").open("ab", buffering=0) as other:
        logged.write(b"one\n")
        with fill_disk(under, rescan_s=0.01) as fault:
            assert list(fault.faulted.values()) == [under / "a.log"]
            with pytest.raises(OSError) as raised:
                logged.write(b"two\n")
            assert raised.value.errno == errno.ENOSPC
            other.write(b"still fine\n")
            late = os.open(under / "c.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC)
            wait_until(lambda: late in fault.faulted, "the file opened inside to be faulted")
            with pytest.raises(OSError) as raised:
                os.write(late, b"lost\n")
            assert raised.value.errno == errno.ENOSPC
            assert not os.get_inheritable(late)
        assert open_fds_under(under) == {logged.fileno(): under / "a.log", late: under / "c.log"}
        assert not os.get_inheritable(late)
        os.write(late, b"late\n")
        os.close(late)
        logged.write(b"three\n")
    assert (under / "a.log").read_text() == "one\nthree\n"
    assert (under / "c.log").read_text() == "late\n"
    assert (outside / "b.log").read_text() == "still fine\n"
    assert len(os.listdir("/proc/self/fd")) == before


def test_fill_disk_leaves_a_reused_descriptor_alone(tmp_path: Path) -> None:
    """The owner closes a faulted file inside the window and the number goes to another file: that one is not touched."""
    (tmp_path / "logs").mkdir()
    fd = os.open(tmp_path / "logs" / "a.log", os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC)
    with fill_disk(tmp_path / "logs", rescan_s=None):
        os.close(fd)
        reused = os.open(tmp_path / "elsewhere.log", os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC)
        assert reused == fd
    os.write(reused, b"mine\n")
    os.close(reused)
    assert (tmp_path / "elsewhere.log").read_text() == "mine\n"
    assert (tmp_path / "logs" / "a.log").read_text() == ""


def test_a_headless_show_on_a_full_log_disk_keeps_answering(tiny_tmpfs: Path,
                                                            kitsu_home: tuple[Path, dict[str, str]]) -> None:
    """The real CLI with its log root on a tmpfs that fills up mid-show: turns go on, stderr says so once per log."""
    home, env = kitsu_home
    port = free_port()
    env = {**env, "KITSU_LOG_ROOT": str(tiny_tmpfs), "KITSU_API__PORT": str(port), "KITSU_API_TOKEN": "full-disk",
           "KITSU_TELEMETRY__ENABLED": "false", "KITSU_MEMORY__SUMMARY_EVERY": "2", "KITSU_FAKE_REPLY": "Okay.",
           "KITSU_API__RATE_PER_S": "1000", "KITSU_API__BURST": "1000"}  # the test polls /status often
    fake_kitsu = Path(__file__).resolve().parents[1] / "fake_kitsu.py"
    with (home / "stderr.txt").open("wb") as err_file:
        proc = subprocess.Popen([sys.executable, str(fake_kitsu), "run", "--headless", "--no-audio"], env=env,
                                stdout=subprocess.DEVNULL, stderr=err_file)
    try:
        api = ControlApi(port, "full-disk")
        wait_until(api.status, "the show's API", 30)
        api.chat("the disk is fine")
        wait_until(lambda: api.answered() >= 1, "the first answer", 20)
        filler = fill(tiny_tmpfs)
        asked = 1
        stderr = ""
        while "cannot write the log file" not in stderr or "show log: cannot write" not in stderr:
            assert asked < 60, f"the logs never failed: {stderr}"
            api.chat(f"the disk is full, line {asked}", f"viewer{asked}")  # one each: no flood limit
            asked += 1
            wait_until(lambda: api.answered() >= asked, f"answer {asked}", 20)  # noqa: B023 - called at once
            stderr = (home / "stderr.txt").read_text()
        filler.unlink()
        time.sleep(5.5)  # the show log retries every 5 s
        api.chat("the disk has room again")
        wait_until(lambda: api.answered() >= asked + 1, "the answer after the disk emptied", 20)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    stderr = (home / "stderr.txt").read_text()
    assert stderr.count("cannot write the log file") == 1 and stderr.count("show log: cannot write") == 1, stderr
    assert "log lines were dropped" in stderr and "again after losing" in stderr, stderr
    assert "Traceback" not in stderr and "Logging error" not in stderr, stderr
    show = next((tiny_tmpfs / "shows").glob("show-*.jsonl"))
    records = json_lines(show)
    assert records[-1]["kind"] == "show_ended"
    assert [r["kind"] for r in records].count("showlog_gap") == 1
    turns = [r["record"]["transcript"] for r in records if r["kind"] == "turn"]
    assert turns[0] == "the disk is fine" and turns[-1] == "the disk has room again"
    assert any(e.get("extras", {}).get("dropped") for e in read_log_lines(tiny_tmpfs, limit=10_000))


class ControlApi:
    """The few control API calls the full-disk show test makes."""

    def __init__(self, port: int, token: str) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def call(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """GET without a body, POST with one."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, headers=self.headers)
        with urllib.request.urlopen(request, timeout=5) as response:
            answer: dict[str, Any] = json.loads(response.read().decode())
        return answer

    def status(self) -> dict[str, Any] | None:
        """/status, or None while nothing answers."""
        try:
            return self.call("/status")
        except (urllib.error.URLError, OSError, ValueError):
            return None

    def answered(self) -> int:
        """Turns answered so far."""
        return int(self.call("/status")["turns"]["answered"])

    def chat(self, text: str, author: str = "ann") -> None:
        """One chat line, accepted."""
        answer = self.call("/chat", {"text": text, "author": author})
        assert answer["accepted"] is True, answer
