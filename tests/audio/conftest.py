"""Fixtures for audio tests: a real private PulseAudio server with null sinks for @pytest.mark.peers tests."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from .pulse_peer import PulsePeer, existing_server, missing_tools, reinit_portaudio, start_pulse, stop_pulse


@pytest.fixture(scope="session")
def pulse() -> Iterator[PulsePeer]:
    """Reuse the server from tests/peers/virtual_audio.sh if present, else start one; PortAudio sees it.

    Without PulseAudio installed the test is skipped, except under CI=true where that is a failure.
    """
    missing = missing_tools()
    if missing:
        reason = (
            f"PulseAudio peer unavailable: {', '.join(missing)} not installed "
            "(apt-get install pulseaudio pulseaudio-utils libportaudio2 libasound2-plugins)"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    previous = os.environ.get("PULSE_SERVER")
    reused = existing_server()
    if reused:
        peer, work = PulsePeer(reused), None
    else:
        peer, work = start_pulse()
    os.environ["PULSE_SERVER"] = peer.server
    reinit_portaudio()
    try:
        yield peer
    finally:
        if previous is None:
            os.environ.pop("PULSE_SERVER", None)
        else:
            os.environ["PULSE_SERVER"] = previous
        if work is not None:
            stop_pulse(peer, work)
        reinit_portaudio()
