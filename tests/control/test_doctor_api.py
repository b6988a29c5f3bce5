"""`kitsu doctor`'s "api port" row now that [api] exists: free is go, taken is no-go with a fix, off is skipped."""

from __future__ import annotations

import socket

from kitsu_tui.commands.doctor_remote import check_api_port
from kitsu_tui.config.settings import Settings


def test_api_port_row() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        row = check_api_port(Settings().with_values({"api.port": port}))
        assert (row.status, row.detail) == ("no-go", f"127.0.0.1:{port} is taken: Address already in use")
        assert "[api] port" in row.fix
    assert check_api_port(Settings().with_values({"api.port": port})).status == "go"
    assert check_api_port(Settings().with_values({"api.enabled": False})).status == "skipped"
