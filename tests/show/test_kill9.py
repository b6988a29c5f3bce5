"""kill -9 mid-show, 20 times: the memory DB stays sound, the show log stays readable, the show lock never blocks the
restart, and each restart restores the context the killed shows left in memory.

The CLI is the real one (tests/fake_kitsu.py swaps the four models for slow fakes): `kitsu run --headless` serves
the control API, chat lines go in through POST /chat, and SIGKILL lands at seeded random points (while loading,
between lines, mid-reply).
"""

from __future__ import annotations

import contextlib
import json
import random
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from kitsu_tui.config.settings import load_settings
from kitsu_tui.showlock import LOCK_NAME, ShowLock

from ..integrations.obs_peer import free_port
from .control_api import call_api

ROOT = Path(__file__).resolve().parents[2]
FAKE_KITSU = ROOT / "tests" / "fake_kitsu.py"
KILLS = 20
SEED = 1313
FRUITS = ("mango", "papaya", "lychee", "quince", "durian", "guava", "kumquat", "persimmon", "rambutan", "tamarind",
          "feijoa", "jackfruit", "loquat", "mangosteen", "pomelo", "salak", "soursop", "yuzu", "longan", "medlar",
          "cherimoya")


class Show:
    """The kitsu home under test and the one show process running in it (at most)."""

    def __init__(self, home: Path, env: dict[str, str]) -> None:
        self.home = home
        self.port = free_port()
        self.token = "kill9-token"
        self.env = {**env, "KITSU_API__PORT": str(self.port), "KITSU_API_TOKEN": self.token,
                    "KITSU_TELEMETRY__ENABLED": "false", "KITSU_MEMORY__SUMMARY_EVERY": "2",
                    "KITSU_FAKE_TOKEN_S": "0.03", "KITSU_FAKE_TTS_S": "0.15",
                    "KITSU_API__RATE_PER_S": "1000", "KITSU_API__BURST": "1000"}  # the test polls /status often
        settings = load_settings(Path(env["KITSU_CONFIG_FILE"]), environ=self.env)
        self.db = settings.memory.resolved_path(settings.paths.data_dir)
        self.logs = Path(env["KITSU_LOG_ROOT"])
        self.proc: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None

    def start(self, reply: str) -> subprocess.Popen[bytes]:
        """Start `kitsu run --headless` (stdout and stderr into files, so no pipe ever fills)."""
        self._stderr = (self.home / "stderr.txt").open("wb")
        with (self.home / "stdout.txt").open("ab") as out:
            self.proc = subprocess.Popen([sys.executable, str(FAKE_KITSU), "run", "--headless", "--no-audio"],
                                         env={**self.env, "KITSU_FAKE_REPLY": reply}, cwd=ROOT, stdout=out,
                                         stderr=self._stderr)
        return self.proc

    def stderr(self) -> str:
        """What the current (or last) show wrote on stderr."""
        return (self.home / "stderr.txt").read_text(errors="replace")

    def api(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """Call the control API (GET without a body, POST with one)."""
        return call_api(self.port, self.token, path, body)

    def wait_up(self, limit_s: float = 30.0) -> dict[str, Any]:
        """The first /status of the show that was started (fails at once when it exits instead)."""
        assert self.proc is not None
        deadline = time.monotonic() + limit_s
        while True:
            code = self.proc.poll()
            assert code is None, f"the show exited ({code}) instead of starting: {self.stderr()}"
            try:
                return self.api("/status")
            except (urllib.error.URLError, OSError, ValueError):
                assert time.monotonic() < deadline, f"the show never answered: {self.stderr()}"
                time.sleep(0.05)

    def wait_answered(self, limit_s: float = 30.0) -> None:
        """Wait until this show has answered a turn."""
        deadline = time.monotonic() + limit_s
        while self.api("/status")["turns"]["answered"] < 1:
            assert time.monotonic() < deadline, "no turn was answered"
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL the show and reap it."""
        assert self.proc is not None and self._stderr is not None
        self.proc.send_signal(signal.SIGKILL)
        assert self.proc.wait(10) == -signal.SIGKILL
        self._stderr.close()
        self.proc = None
        assert "Traceback" not in self.stderr(), self.stderr()

    def stop(self) -> int:
        """End the show the ordinary way (SIGTERM); its exit code."""
        assert self.proc is not None and self._stderr is not None
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(15)
        self._stderr.close()
        self.proc = None
        return code

    def close(self) -> None:
        """Kill whatever is left."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
        if self._stderr is not None:
            self._stderr.close()

    def memory(self) -> tuple[set[tuple[str, str]], list[str]]:
        """Stored (role, text) messages and the summaries the next start should restore (newest 5 within 2 h)."""
        if not self.db.exists():
            return set(), []
        with _readonly(self.db) as db:
            stored = {(str(role), str(text)) for role, text in db.execute("SELECT role, text FROM turns")}
            rows = db.execute("SELECT text FROM summaries WHERE ts >= ? ORDER BY id DESC LIMIT 5",
                              (time.time() - 7200,)).fetchall()
        return stored, [str(text) for (text,) in reversed(rows)]


def completed_turns(shows: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The turn records the show logs hold: turns that ended (and were stored) before their show was killed."""
    return [r["record"] for records in shows for r in records if r.get("kind") == "turn"]


def cut_short(shows: list[list[dict[str, Any]]]) -> int:
    """Turns a kill cut short: let in by input moderation, but never completed, in the same show."""
    count = 0
    for records in shows:
        started = {r["turn"] for r in records if r.get("kind") == "moderation" and r.get("stage") == "input"}
        ended = {r["record"]["turn"] for r in records if r.get("kind") == "turn"}
        count += len(started - ended)
    return count


def _readonly(path: Path) -> contextlib.closing[sqlite3.Connection]:
    """A read-only connection (no checkpoint on close: the next show must recover the WAL itself)."""
    return contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10))


def assert_db_sound(db: Path) -> None:
    """PRAGMA integrity_check says ok, and open() never had to move a corrupt file aside."""
    if db.exists():
        with _readonly(db) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    assert not list(db.parent.glob(f"{db.name}.corrupt-*")), "the memory DB was found corrupt and moved aside"


def assert_show_logs_readable(logs: Path) -> list[list[dict[str, Any]]]:
    """Every show log: each line a JSON record except, at most, a torn last one; the first is show_started.

    Returns the records of each show.
    """
    shows = sorted((logs / "shows").glob("show-*.jsonl"))
    everything: list[list[dict[str, Any]]] = []
    for path in shows:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        if not lines:
            continue  # killed before the first record reached the disk
        whole = lines if lines[-1].endswith("}") else lines[:-1]
        records = [json.loads(line) for line in whole]  # a broken line here fails the test
        if records:
            assert records[0]["kind"] == "show_started", path
        everything.append(records)
    return everything


def assert_daily_logs_unmerged(logs: Path) -> None:
    """The daily JSON logs: a line torn by a kill stays on its own; the next process never glues onto it."""
    for path in logs.glob("kitsu-*.jsonl"):
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.endswith("}"):
                json.loads(line)


def assert_lock_free(logs: Path) -> None:
    """The dead show's lock was released by the kernel: a new ShowLock takes it at once."""
    if not (logs / LOCK_NAME).exists():
        return
    lock = ShowLock(logs)
    lock.acquire()
    lock.release()


@pytest.fixture
def show(kitsu_home: tuple[Path, dict[str, str]]) -> Iterator[Show]:
    """A show environment in a fresh kitsu home; whatever runs at the end is killed."""
    environment = Show(*kitsu_home)
    yield environment
    environment.close()


def test_twenty_kill_9s_mid_show_lose_nothing_but_the_turn_in_flight(show: Show) -> None:
    rng = random.Random(SEED)
    started = time.monotonic()
    stored_before: set[tuple[str, str]] = set()
    restore_before: list[str] = []
    asked: list[str] = []
    came_up = waited_for_answer = 0
    for kill in range(KILLS):
        proc = show.start(f"Answer number {kill} about {FRUITS[kill]}, from the fox.")
        if kill > 0 and rng.random() < 0.2:  # while it loads (opening the DB, the show log, the lock)
            time.sleep(rng.uniform(0.1, 1.5))
        else:
            status = show.wait_up()
            came_up += 1
            assert json.loads((show.logs / LOCK_NAME).read_text())["pid"] == proc.pid
            memory = status["memory"]
            assert memory is not None and status["modules"]["memory"]["state"] == "on", status["modules"]
            assert memory["restore_context"] == restore_before, f"restart {kill}: restored context differs"
            for line in range(rng.randint(1, 4)):
                fruit = FRUITS[kill]
                answer = show.api("/chat", {"text": f"tell me about {fruit} please, line {line}", "author": "ann"})
                assert answer["accepted"] is True, answer
                asked.append(fruit)
                time.sleep(rng.uniform(0.0, 0.5))
            if rng.random() < 0.5:  # let one turn end first (it must then be in memory)
                waited_for_answer += 1
                show.wait_answered()
            time.sleep(rng.uniform(0.0, 1.2))  # mid-reply, or just after one
        show.kill()

        assert_lock_free(show.logs)
        assert_db_sound(show.db)
        records = assert_show_logs_readable(show.logs)
        assert_daily_logs_unmerged(show.logs)
        stored, restore = show.memory()
        assert stored >= stored_before, "stored turns went missing"
        for turn in completed_turns(records):  # the memory commit comes before TurnCompleted
            assert ("user", turn["transcript"]) in stored, turn
            assert not turn["spoken"] or ("assistant", turn["spoken"]) in stored, turn
        stored_before, restore_before = stored, restore

    shows = assert_show_logs_readable(show.logs)
    answered, in_flight = completed_turns(shows), cut_short(shows)
    assert len(answered) >= waited_for_answer
    assert in_flight >= 5, f"only {in_flight} turns were mid-flight at a kill"
    assert restore_before, "no summary was ever written"
    assert any(fruit in " ".join(restore_before) for fruit in asked), restore_before

    show.start("The last answer.")  # the 21st start: comes up, restores, and ends cleanly
    status = show.wait_up()
    assert status["memory"]["restore_context"] == restore_before
    assert show.stop() == 0, show.stderr()
    assert_db_sound(show.db)
    assert len(list((show.logs / "shows").glob("show-*.jsonl"))) >= came_up + 1  # one per show that came up
    last = sorted((show.logs / "shows").glob("show-*.jsonl"), key=lambda p: p.stat().st_mtime)[-1]
    assert json.loads(last.read_text().splitlines()[-1])["kind"] == "show_ended"
    print(f"{KILLS} kills in {time.monotonic() - started:.1f}s, {came_up} came up first, "
          f"{len(answered)} turns answered, {in_flight} cut short, {len(stored_before)} messages stored")  # noqa: T201
