"""`kitsu web` in a real headless Chromium: the token page, the console's panes, and a chat line typed in the
browser reaching the running show.

Everything is the real CLI (tests/fake_kitsu.py only swaps the four models for fakes): a headless show with its
control API, `kitsu web` serving `kitsu attach` per browser tab through textual-serve, and Chromium driven over
the DevTools protocol (tests/web/cdp.py) reading the xterm.js screen row by row.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import IO, Any

import psutil
import pytest

from ..integrations.obs_peer import free_port
from .cdp import XTERM_HOOK, Chromium, Page, find_chromium

ROOT = Path(__file__).resolve().parents[2]
FAKE_KITSU = ROOT / "tests" / "fake_kitsu.py"
REPLY = "The browser fox hears you loud and clear."
PANES = ("transcript", "llm", "tts queue", "modules", "system", "pre-air hold")

pytestmark = pytest.mark.peers


class Stage:
    """A headless show (API on a free port, a known token) and `kitsu web` serving its console."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.api_port = free_port()
        self.web_port = free_port()
        self.token = secrets.token_urlsafe(16)
        self.logs = tmp_path / "logs"
        (tmp_path / "none.toml").write_text("")
        self.env = {**os.environ, "KITSU_API__PORT": str(self.api_port), "KITSU_API_TOKEN": self.token,
                    "KITSU_LOG_ROOT": str(self.logs), "KITSU_MEMORY__PATH": str(tmp_path / "memory.sqlite3"),
                    "KITSU_CONFIG_FILE": str(tmp_path / "none.toml"), "KITSU_FAKE_REPLY": REPLY}
        self.processes: list[subprocess.Popen[str]] = []
        self._logs: list[IO[str]] = []

    def start(self, name: str, *args: str, stdout: int | None = None) -> subprocess.Popen[str]:
        """Start a kitsu command (fake models) in its own process group; stderr goes to NAME.log."""
        log = (self.tmp / f"{name}.log").open("w")
        self._logs.append(log)
        process = subprocess.Popen([sys.executable, str(FAKE_KITSU), *args], env=self.env, cwd=ROOT, text=True,
                                   stdin=subprocess.DEVNULL, stdout=stdout if stdout is not None else log,
                                   stderr=log, start_new_session=True)
        self.processes.append(process)
        return process

    def status(self) -> dict[str, Any] | None:
        """The show's /status, or None while its API does not answer."""
        request = urllib.request.Request(f"http://127.0.0.1:{self.api_port}/status",
                                         headers={"Authorization": f"Bearer {self.token}"})
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                answer: dict[str, Any] = json.loads(response.read().decode())
        except (urllib.error.URLError, OSError, ValueError):
            return None
        return answer

    def chat_turns(self) -> list[dict[str, Any]]:
        """The chat turn records in the show log so far."""
        turns: list[dict[str, Any]] = []
        for path in sorted((self.logs / "shows").glob("show-*.jsonl")):
            for line in path.read_text(encoding="utf-8").splitlines():
                entry = json.loads(line) if line.startswith("{") else {}
                if entry.get("kind") == "turn" and entry["record"].get("source") == "chat":
                    turns.append(entry["record"])
        return turns

    def log(self, name: str) -> str:
        """What a process wrote to its log so far (for failure messages)."""
        path = self.tmp / f"{name}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def close(self) -> None:
        """Stop whatever is still running (its whole process group), then close the logs."""
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
        for log in self._logs:
            log.close()


async def wait_for(check: Callable[[], Awaitable[Any]], what: str, limit_s: float = 30) -> Any:
    """Poll an async check until it returns something truthy."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if value := await check():
            return value
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out after {limit_s:.0f}s waiting for {what}")


def http_status(url: str) -> int:
    """The HTTP status of a plain GET (no cookie, no token)."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def _on_debian() -> bool:
    """True on Debian itself (not Ubuntu): there `chromium` is a plain apt package."""
    try:
        return "ID=debian" in Path("/etc/os-release").read_text(errors="replace").splitlines()
    except OSError:
        return False


@pytest.fixture
def chromium_binary() -> str:
    """Chromium on PATH; skipped without it (failed under CI=true on Debian, where scripts/dev.sh installs it)."""
    binary = find_chromium()
    if binary is None:
        if os.environ.get("CI") == "true" and _on_debian():
            pytest.fail("chromium is missing (scripts/dev.sh test installs it)")
        pytest.skip("chromium is not installed (Debian: apt-get install chromium)")
    return binary


@pytest.fixture
def stage(tmp_path: Path) -> Iterator[Stage]:
    """The show and web processes of one test; all of them are stopped afterwards."""
    environment = Stage(tmp_path)
    yield environment
    environment.close()


@pytest.fixture
async def page(chromium_binary: str, tmp_path: Path) -> AsyncIterator[Page]:
    """A page in a fresh headless Chromium whose xterm.js terminal the test can read."""
    browser = Chromium(chromium_binary, tmp_path / "chromium-profile", tmp_path / "chromium.log")
    try:
        tab = await browser.first_page()
        await tab.call("Page.enable")
        await tab.call("Page.addScriptToEvaluateOnNewDocument", source=XTERM_HOOK)
        yield tab
        await tab.close()
    finally:
        await browser.close()


async def test_the_browser_console_shows_the_show_and_sends_chat(stage: Stage, page: Page) -> None:
    """401 without the token; with the printed URL the panes appear, and a line typed into the chat input in
    the browser becomes a chat turn of the running show, whose reply the browser console then shows."""
    started = time.monotonic()
    show = stage.start("show", "run", "--headless", "--no-audio")

    async def show_ready() -> bool:
        if show.poll() is not None:
            raise AssertionError(f"the show exited with {show.returncode}:\n{stage.log('show')}")
        status = await asyncio.to_thread(stage.status)
        return status is not None and status.get("modules", {}).get("llm", {}).get("state") == "on"

    try:
        await wait_for(show_ready, "the show's control API", 60)
    except AssertionError:
        raise AssertionError(f"the show did not come up (exit {show.poll()}):\n{stage.log('show')}") from None

    web = stage.start("web", "web", "--port", str(stage.web_port), "--kitsu-command",
                      f"{sys.executable} {FAKE_KITSU}", stdout=subprocess.PIPE)
    assert web.stdout is not None
    line = await asyncio.wait_for(asyncio.to_thread(web.stdout.readline), 30)
    url = f"http://127.0.0.1:{stage.web_port}/?token={stage.token}"
    assert url in line, f"{line!r}\n{stage.log('web')}"
    assert "warning" not in line

    base = f"http://127.0.0.1:{stage.web_port}/"
    assert await asyncio.to_thread(http_status, base) == 401
    assert await asyncio.to_thread(http_status, f"{base}static/js/textual.js") == 401
    await page.navigate(base)
    assert "needs its token" in await page.evaluate("document.body.innerText")

    await page.navigate(url)
    assert await page.evaluate("location.href") == base  # the token left the address bar for a cookie
    assert await page.evaluate("document.cookie") == ""  # HttpOnly: scripts never see it

    async def panes_shown() -> str:
        screen = await page.screen()
        return screen if all(title in screen for title in PANES) and "kitsu" in screen else ""

    try:
        await wait_for(panes_shown, "the console's panes in the browser", 60)
    except AssertionError:
        raise AssertionError(f"screen:\n{await page.screen()}\nweb log:\n{stage.log('web')}") from None
    loaded_s = time.monotonic() - started

    text = f"hello from the browser {secrets.token_hex(3)}"
    await page.evaluate("window.__kitsuTerminal.focus()")
    await page.press("f6")
    await page.type_text(text)
    await page.press("enter")

    async def turn_taken() -> list[dict[str, Any]]:
        return [turn for turn in await asyncio.to_thread(stage.chat_turns) if turn.get("transcript") == text]

    turns = await wait_for(turn_taken, "the show to take the chat line typed in the browser", 30)
    assert REPLY in str(turns[0].get("reply", "")) or REPLY in str(turns[0].get("spoken", "")), turns[0]

    async def reply_shown() -> str:
        screen = await page.screen()
        return screen if text in screen and REPLY[:30] in screen else ""

    try:
        await wait_for(reply_shown, "the browser console to show the line and the reply", 30)
    except AssertionError:
        raise AssertionError(f"screen:\n{await page.screen()}") from None

    consoles = psutil.Process(web.pid).children(recursive=True)
    assert consoles, "kitsu web runs no console for the open tab"
    web.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(web.wait, 15) == 0, stage.log("web")
    _, alive = psutil.wait_procs(consoles, timeout=10)
    assert not alive, f"console processes left after kitsu web stopped: {alive}"
    assert show.poll() is None, "the show must go on when the web console stops"
    print(f"browser console: panes after {loaded_s:.1f}s, whole test {time.monotonic() - started:.1f}s")
