"""Peer faults: the TCP fault proxy cuts and refuses like a killed program, and a soak with VTube Studio on
drops the real VTS module's socket, sees it noticed and the module reconnect."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from kitsu_tui.backends.base import Backends
from kitsu_tui.config.settings import Settings
from kitsu_tui.soak.options import SoakOptions
from kitsu_tui.soak.runner import run_soak
from kitsu_tui.soak.tcpproxy import TcpProxy
from tests.integrations.fake_vts import FakeVTS


async def test_down_cuts_connections_and_refuses_until_up() -> None:
    server = await asyncio.start_server(_echo, "127.0.0.1", 0)
    port = int(server.sockets[0].getsockname()[1])
    proxy = TcpProxy("127.0.0.1", port)
    proxy.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(b"ping\n")
        assert await asyncio.wait_for(reader.readline(), 5) == b"ping\n"
        await asyncio.to_thread(proxy.down)
        assert await asyncio.wait_for(reader.read(10), 5) == b""  # the open connection is cut
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection("127.0.0.1", proxy.port)
        await asyncio.to_thread(proxy.up)
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(b"again\n")
        assert await asyncio.wait_for(reader.readline(), 5) == b"again\n"
        writer.close()
    finally:
        proxy.stop()
        server.close()


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while line := await reader.readline():
        writer.write(line)
        await writer.drain()
    writer.close()


async def test_soak_drops_the_vts_socket_and_the_module_reconnects(
        soak_settings: Settings, backends_factory: Callable[..., Backends], tmp_path: Path) -> None:
    fake = FakeVTS()
    port = await fake.start()
    settings = soak_settings.with_values({"vts.enabled": True, "vts.url": f"ws://127.0.0.1:{port}",
                                          "vts.token_path": tmp_path / "vts.token"})
    out = tmp_path / "summary.json"
    err = io.StringIO()
    try:
        code = await run_soak(settings, SoakOptions(duration_minutes=0.25, faults="vts@4s+4s", output=out,
                                                    progress=False), err, backends=backends_factory())
    finally:
        await fake.stop()
    summary = json.loads(out.read_text())
    entry = summary["faults"]["timeline"][0]
    assert code == 0, err.getvalue()
    assert entry["kind"] == "vts" and entry["injected_at_s"] is not None
    assert entry["noticed_by"] and entry["recovered_by"] == "module vts on", entry
    assert entry["recovered_after_end_s"] < 10
    assert len(fake.auth_attempts) >= 2  # it authenticated again on the new connection
