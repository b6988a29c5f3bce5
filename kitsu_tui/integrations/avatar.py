"""What VTube Studio and VMC share: following the engine's lipsync and moods, natural blinking, mood mappings."""

from __future__ import annotations

import abc
import asyncio
import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kitsu_tui.engine.bus import Subscription
from kitsu_tui.engine.events import MoodChanged, MouthUpdated
from kitsu_tui.integrations.backoff import Backoff
from kitsu_tui.integrations.base import IntegrationModule

if TYPE_CHECKING:
    from kitsu_tui.config.persona import Persona

#: A mouth frame older than this counts as silence (the engine sends ~40 Hz while speaking).
MOUTH_STALE_S = 0.25

#: Mood -> VMC blendshape weights used when the persona defines none (standard VRM 0.x names).
DEFAULT_VMC_MOODS: dict[str, dict[str, float]] = {
    "neutral": {},
    "happy": {"Joy": 1.0},
    "joy": {"Joy": 1.0},
    "excited": {"Joy": 0.6, "Fun": 0.8},
    "fun": {"Fun": 1.0},
    "playful": {"Fun": 0.9},
    "amused": {"Fun": 0.8},
    "angry": {"Angry": 1.0},
    "annoyed": {"Angry": 0.6},
    "sad": {"Sorrow": 1.0},
    "sorrow": {"Sorrow": 1.0},
    "surprised": {"Fun": 0.5},
}

#: Mood -> smile parameter (0..1) for VTube Studio's MouthSmile.
DEFAULT_SMILE: dict[str, float] = {
    "neutral": 0.4,
    "happy": 1.0,
    "joy": 1.0,
    "excited": 0.9,
    "fun": 0.8,
    "playful": 0.8,
    "amused": 0.8,
    "surprised": 0.5,
    "angry": 0.0,
    "annoyed": 0.1,
    "sad": 0.0,
    "sorrow": 0.0,
}

MOOD_BLENDSHAPES = ("Joy", "Angry", "Sorrow", "Fun")


@dataclass(frozen=True, slots=True)
class MoodPlan:
    """What a mood does to the avatar: a VTS expression file or hotkey, VMC blendshapes and a smile value."""

    mood: str
    expression: str | None = None
    hotkey: str | None = None
    vmc: dict[str, float] = field(default_factory=dict)
    smile: float = 0.4


def plan_mood(persona: Persona, mood: str) -> MoodPlan:
    """Resolve a mood through the persona's [moods] table and the defaults above."""
    key = mood.strip().lower()
    spec = persona.moods.get(key)
    if spec is None:
        return MoodPlan(mood=key, vmc=dict(DEFAULT_VMC_MOODS.get(key, {})), smile=DEFAULT_SMILE.get(key, 0.4))
    vmc = dict(spec.vmc) if spec.vmc else dict(DEFAULT_VMC_MOODS.get(key, {}))
    smile = DEFAULT_SMILE.get(key, 0.4)
    if "Joy" in spec.vmc:
        smile = max(smile, float(spec.vmc["Joy"]))
    return MoodPlan(mood=key, expression=spec.expression or None, hotkey=spec.hotkey or None, vmc=vmc, smile=smile)


class MouthState:
    """The most recent lipsync frame; reads as closed once frames stop arriving."""

    def __init__(self) -> None:
        self.value = 0.0
        self.vowels: tuple[float, float, float, float, float] = (0.0, 0.0, 0.0, 0.0, 0.0)
        self.updated = -1e9

    def update(self, event: MouthUpdated, now: float) -> None:
        """Take a new frame (received at loop time `now`)."""
        self.value = min(1.0, max(0.0, event.value))
        self.vowels = event.vowels
        self.updated = now

    def speaking(self, now: float) -> bool:
        """Whether frames are still arriving."""
        return now - self.updated < MOUTH_STALE_S

    def openness(self, now: float) -> float:
        """Mouth openness 0..1 (0 when stale)."""
        return self.value if self.speaking(now) else 0.0

    def shapes(self, now: float) -> tuple[float, float, float, float, float]:
        """A, I, U, E, O weights; a frame without vowel analysis drives A from the openness."""
        if not self.speaking(now):
            return (0.0, 0.0, 0.0, 0.0, 0.0)
        if not any(self.vowels):
            return (self.value, 0.0, 0.0, 0.0, 0.0)
        return self.vowels


class Blinker:
    """Natural blinking: a quick close and slower open every 2-6 s, sometimes a double blink."""

    CLOSE_S = 0.06
    OPEN_S = 0.12

    def __init__(self, rng: random.Random | None = None) -> None:
        self._rng = rng or random.Random()
        self._start = -1.0
        self._next = -1.0

    def _schedule(self, now: float) -> None:
        """Pick the next blink time (sometimes a quick second blink)."""
        if self._rng.random() < 0.15:
            self._next = now + self.CLOSE_S + self.OPEN_S + self._rng.uniform(0.08, 0.2)
        else:
            self._next = now + self._rng.uniform(2.0, 6.0)

    def value(self, now: float) -> float:
        """Eyelid closure 0..1 at `now` (monotonic loop time)."""
        if self._next < 0:
            self._next = now + self._rng.uniform(0.5, 3.0)
        if now >= self._next:
            self._start = now
            self._schedule(now)
        elapsed = now - self._start
        if elapsed < 0 or self._start < 0:
            return 0.0
        if elapsed < self.CLOSE_S:
            return elapsed / self.CLOSE_S
        if elapsed < self.CLOSE_S + self.OPEN_S:
            return 1.0 - (elapsed - self.CLOSE_S) / self.OPEN_S
        return 0.0


def approach(current: dict[str, float], target: dict[str, float], step: float) -> dict[str, float]:
    """Move every mood blendshape of `current` toward `target` by at most `step` (smooth transitions)."""
    out: dict[str, float] = {}
    for name in set(current) | set(target) | set(MOOD_BLENDSHAPES):
        now_v, goal = current.get(name, 0.0), target.get(name, 0.0)
        delta = max(-step, min(step, goal - now_v))
        out[name] = now_v + delta
    return out


class AvatarModule(IntegrationModule):
    """An avatar integration (VTube Studio, VMC): follows the engine's mouth frames and moods while it runs."""

    def __init__(self, backoff: Backoff | None = None) -> None:
        super().__init__(backoff)
        self.mouth = MouthState()
        self._subscription: Subscription | None = None

    def on_start(self) -> None:
        """Follow mouth and mood events from the engine."""
        self._subscription = self.engine.bus.subscribe(self.name, max_lossy=16)
        self.spawn(self._follow(self._subscription), "events")

    def on_stop(self) -> None:
        """Stop following the engine."""
        if self._subscription is not None:
            self._subscription.close()
            self._subscription = None

    async def _follow(self, subscription: Subscription) -> None:
        """Track mouth frames and hand each mood, resolved through the persona, to on_mood."""
        loop = asyncio.get_running_loop()
        async for event in subscription:
            if isinstance(event, MouthUpdated):
                self.mouth.update(event, loop.time())
            elif isinstance(event, MoodChanged):
                self.on_mood(plan_mood(self.engine.persona, event.mood))

    @abc.abstractmethod
    def on_mood(self, plan: MoodPlan) -> None:
        """Show a new mood on the avatar (called on the loop; must not block)."""
