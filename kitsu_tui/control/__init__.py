"""The local control API: an aiohttp server on the engine's own loop, its token, event codec and client."""

from kitsu_tui.control.server import ControlApiError, ControlServer, open_control_api, start_control_api

__all__ = ["ControlApiError", "ControlServer", "open_control_api", "start_control_api"]
