"""VMC protocol sender (OSC over UDP) for VSeeFace, Warudo and VNyan: mouth shapes, blink and mood blendshapes."""

from __future__ import annotations

import asyncio
import logging
import random
import socket

from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message_builder import OscMessageBuilder

from kitsu_tui.config.settings import VmcSettings
from kitsu_tui.engine.events import ModuleState
from kitsu_tui.integrations.avatar import AvatarModule, Blinker, MoodPlan, approach
from kitsu_tui.integrations.base import IntegrationError

log = logging.getLogger(__name__)

VOWELS = ("A", "I", "U", "E", "O")
BLEND_VAL = "/VMC/Ext/Blend/Val"
BLEND_APPLY = "/VMC/Ext/Blend/Apply"


def build_frame(values: dict[str, float]) -> bytes:
    """One OSC bundle: a /VMC/Ext/Blend/Val per blendshape, then /VMC/Ext/Blend/Apply."""
    bundle = OscBundleBuilder(IMMEDIATELY)
    for name, value in values.items():
        msg = OscMessageBuilder(BLEND_VAL)
        msg.add_arg(name, "s")
        msg.add_arg(float(value), "f")
        bundle.add_content(msg.build())
    bundle.add_content(OscMessageBuilder(BLEND_APPLY).build())
    return bundle.build().dgram


class VmcModule(AvatarModule):
    """Streams VMC blendshape frames at rate_hz while on: A/I/U/E/O from lipsync, Blink, Joy/Angry/Sorrow/Fun."""

    name = "vmc"

    def __init__(self, settings: VmcSettings, rng: random.Random | None = None) -> None:
        super().__init__()
        self.settings = settings
        self.blinker = Blinker(rng)
        self.mood_target: dict[str, float] = {}
        self.mood_now: dict[str, float] = {}
        self.frames_sent = 0
        self._sock: socket.socket | None = None

    def target(self) -> str:
        """The receiver's address."""
        return f"udp://{self.settings.host}:{self.settings.port}"

    def on_mood(self, plan: MoodPlan) -> None:
        """Blend toward the mood's blendshapes."""
        self.mood_target = plan.vmc

    def frame_values(self, now: float) -> dict[str, float]:
        """The blendshape values of the frame sent at loop time `now`."""
        gain = self.settings.mouth_gain
        values = {name: min(1.0, v * gain) for name, v in zip(VOWELS, self.mouth.shapes(now), strict=True)}
        if self.settings.blink:
            values["Blink"] = self.blinker.value(now)
        self.mood_now = approach(self.mood_now, self.mood_target, 4.0 / self.settings.rate_hz)
        values.update(self.mood_now)
        return values

    async def session(self) -> None:
        """Open the UDP socket and send frames until stopped; a send error ends the session for a retry."""
        host, port = self.settings.host, self.settings.port
        try:
            infos = await asyncio.to_thread(socket.getaddrinfo, host, port, 0, socket.SOCK_DGRAM)
        except OSError as exc:
            raise IntegrationError(f"VMC host {host!r} cannot be resolved ({exc.strerror or exc})") from exc
        family, _type, _proto, _name, sockaddr = infos[0]
        address = str(sockaddr[0])
        self._sock = socket.socket(family, socket.SOCK_DGRAM)
        self._sock.setblocking(False)
        self.set_state(ModuleState.ON, f"sending to {host}:{port}")
        loop = asyncio.get_running_loop()
        period = 1.0 / self.settings.rate_hz
        next_at = loop.time()
        while True:
            now = loop.time()
            try:
                self._sock.sendto(build_frame(self.frame_values(now)), (address, port))
            except BlockingIOError:
                pass  # a full socket buffer drops this frame; the next one carries current values
            except OSError as exc:
                raise IntegrationError(f"VMC send to {host}:{port} failed ({exc.strerror or exc})") from exc
            self.frames_sent += 1
            next_at += period
            delay = next_at - loop.time()
            if delay < -period:  # fell behind (loop stall): resync instead of bursting
                next_at = loop.time()
                delay = 0.0
            await asyncio.sleep(max(0.0, delay))

    async def disconnect(self) -> None:
        """Close the UDP socket."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None
