"""A tiny Chrome DevTools Protocol client for tests: real headless Chromium, driven over its WebSocket.

No Selenium, no Playwright: Chromium is started with --remote-debugging-port=0, the port it picked is read
from DevToolsActivePort in its profile folder, and the first page target is driven with JSON commands.
`XTERM_HOOK` makes the page's xterm.js terminal reachable (textual-serve keeps it in a closure) so a test can
read what the console shows, cell text row by row, as a person would see it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import aiohttp

XTERM_HOOK = """
(() => {
  // textual.js does `this.terminal = new Terminal(...)`: a setter on Object.prototype sees that assignment,
  // turns it back into an ordinary own property and keeps the first xterm Terminal in window.__kitsuTerminal.
  Object.defineProperty(Object.prototype, "terminal", {
    configurable: true,
    set(value) {
      Object.defineProperty(this, "terminal", {value, writable: true, configurable: true, enumerable: true});
      if (value && value.buffer && value.buffer.active && !window.__kitsuTerminal) {
        window.__kitsuTerminal = value;
      }
    },
  });
})();
"""

SCREEN_JS = """
(() => {
  const term = window.__kitsuTerminal;
  if (!term) return null;
  const buffer = term.buffer.active;
  const rows = [];
  for (let y = 0; y < term.rows; y++) {
    const line = buffer.getLine(buffer.viewportY + y);
    rows.push(line ? line.translateToString(true) : "");
  }
  return rows.join("\\n");
})()
"""

KEYS: dict[str, tuple[str, int, str]] = {
    "enter": ("Enter", 13, "\r"),
    "f6": ("F6", 117, ""),
    "tab": ("Tab", 9, "\t"),
}
"""Key name -> (DOM key/code, Windows virtual key code, text it types)."""


def find_chromium() -> str | None:
    """The Chromium (or Chrome) binary on PATH, if any."""
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if path := shutil.which(name):
            return path
    return None


class CdpError(RuntimeError):
    """A DevTools command answered with an error."""


class Page:
    """One page target: call(method, params) -> result; events are ignored."""

    def __init__(self, socket: aiohttp.ClientWebSocketResponse) -> None:
        self._socket = socket
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for message in self._socket:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            data = json.loads(message.data)
            future = self._pending.pop(data.get("id", -1), None)
            if future is None or future.done():
                continue
            if "error" in data:
                future.set_exception(CdpError(str(data["error"])))
            else:
                future.set_result(data.get("result", {}))
        for future in self._pending.values():
            if not future.done():
                future.set_exception(CdpError("the DevTools connection closed"))

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one command and wait for its result."""
        number = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[number] = future
        await self._socket.send_str(json.dumps({"id": number, "method": method, "params": params}))
        return await asyncio.wait_for(future, 30)

    async def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (JSON-able values only)."""
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise CdpError(str(result["exceptionDetails"]))
        return result.get("result", {}).get("value")

    async def navigate(self, url: str) -> None:
        """Load a URL and wait for its load event (polled: document.readyState)."""
        await self.call("Page.navigate", url=url)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(CdpError):
                if await self.evaluate("document.readyState") == "complete":
                    return
            await asyncio.sleep(0.1)
        raise CdpError(f"{url} did not finish loading")

    async def screen(self) -> str:
        """The terminal's visible rows (textual-serve's xterm.js), '' before it exists."""
        value = await self.evaluate(SCREEN_JS)
        return str(value) if value else ""

    async def press(self, key: str) -> None:
        """Press and release one named key (KEYS) in the focused element."""
        name, code, text = KEYS[key]
        down: dict[str, Any] = {"type": "keyDown" if text else "rawKeyDown", "key": name, "code": name,
                                "windowsVirtualKeyCode": code, "nativeVirtualKeyCode": code}
        if text:
            down["text"] = text
            down["unmodifiedText"] = text
        await self.call("Input.dispatchKeyEvent", **down)
        await self.call("Input.dispatchKeyEvent", type="keyUp", key=name, code=name, windowsVirtualKeyCode=code,
                        nativeVirtualKeyCode=code)

    async def type_text(self, text: str) -> None:
        """Type text into the focused element, as an input method would."""
        await self.call("Input.insertText", text=text)

    async def close(self) -> None:
        """Close the DevTools connection."""
        await self._socket.close()
        with contextlib.suppress(asyncio.CancelledError, CdpError, aiohttp.ClientError):
            await self._reader


class Chromium:
    """A headless Chromium in its own process group with a throwaway profile."""

    def __init__(self, binary: str, profile: Path, log: Path, size: tuple[int, int] = (1600, 1000)) -> None:
        self.profile = profile
        self._log = log.open("wb")
        self.process = subprocess.Popen(
            [binary, "--headless=new", "--no-sandbox", "--remote-debugging-port=0", "--remote-allow-origins=*",
             f"--user-data-dir={profile}", f"--window-size={size[0]},{size[1]}", "--no-first-run",
             "--no-default-browser-check", "--disable-extensions", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--enable-unsafe-swiftshader", "about:blank"],
            stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        self._session: aiohttp.ClientSession | None = None

    def debugging_port(self, limit_s: float = 30) -> int:
        """The DevTools port Chromium picked (first line of DevToolsActivePort)."""
        marker = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise CdpError(f"chromium exited with {self.process.returncode} (log: {self._log.name})")
            with contextlib.suppress(OSError, ValueError, IndexError):
                return int(marker.read_text().splitlines()[0])
            time.sleep(0.1)
        raise CdpError("chromium did not open its DevTools port")

    async def first_page(self) -> Page:
        """Connect to the page Chromium opened at start."""
        port = self.debugging_port()
        self._session = aiohttp.ClientSession()
        deadline = time.monotonic() + 30
        while True:
            async with self._session.get(f"http://127.0.0.1:{port}/json/list") as response:
                targets = await response.json()
            pages = [t for t in targets if t.get("type") == "page" and t.get("webSocketDebuggerUrl")]
            if pages:
                break
            if time.monotonic() > deadline:
                raise CdpError("chromium has no page target")
            await asyncio.sleep(0.1)
        socket = await self._session.ws_connect(pages[0]["webSocketDebuggerUrl"], max_msg_size=0)
        return Page(socket)

    async def close(self) -> None:
        """Stop Chromium and everything it started."""
        if self._session is not None:
            await self._session.close()
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                await asyncio.to_thread(self.process.wait, 10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                await asyncio.to_thread(self.process.wait, 10)
        self._log.close()
