"""A VMC 'marionette' for tests: a real python-osc UDP server on 127.0.0.1 that records blendshape frames."""

from __future__ import annotations

import threading
import time
from typing import Any

from pythonosc.dispatcher import Dispatcher
from pythonosc.osc_server import ThreadingOSCUDPServer


class VmcReceiver:
    """Collects Blend/Val values and records one frame per Blend/Apply (handlers return None: no OSC replies)."""

    def __init__(self) -> None:
        self.frames: list[tuple[float, dict[str, float]]] = []
        self._pending: dict[str, float] = {}
        self._lock = threading.Lock()
        dispatcher = Dispatcher()
        dispatcher.map("/VMC/Ext/Blend/Val", self._on_val)
        dispatcher.map("/VMC/Ext/Blend/Apply", self._on_apply)
        self.server = ThreadingOSCUDPServer(("127.0.0.1", 0), dispatcher)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _on_val(self, _addr: str, name: str, value: float) -> None:
        with self._lock:
            self._pending[name] = value

    def _on_apply(self, _addr: str, *_args: Any) -> None:
        with self._lock:
            self.frames.append((time.monotonic(), dict(self._pending)))
            self._pending.clear()

    def snapshot(self) -> list[tuple[float, dict[str, float]]]:
        """A copy of the frames so far."""
        with self._lock:
            return list(self.frames)

    def start(self) -> None:
        """Serve on the background thread."""
        self.thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.server.shutdown()
        self.server.server_close()
