"""A held-out multi-voice test set for `kitsu bench --voices espeak`: viewer lines spoken by espeak-ng, some paused mid-sentence."""

from __future__ import annotations

import hashlib
import os
import random
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import numpy as np

from kitsu_tui.audio.base import PIPELINE_RATE, Audio
from kitsu_tui.audio.wav import AudioFileError, load_wav, write_wav
from kitsu_tui.soak.plan import VoiceItem

COMPLETE_LINES = (
    "Good evening Kitsu, I just got home from work.", "Can you recommend a cozy game for a rainy Sunday?",
    "What did you have for breakfast this morning?", "I finally beat the last boss after three hours.",
    "Do you think pineapple belongs on pizza?", "How do you pronounce the name of your streaming setup?",
    "My dog keeps barking at the vacuum cleaner.", "Is it too late to start learning the piano at forty?",
    "What was the scariest movie you have ever watched?", "I am watching from Brazil, hello everyone!",
    "Could you explain how a rainbow forms?", "Which season do you like the most and why?",
    "Today is my birthday, can I get a shout out?", "What would you do with a million dollars?",
    "My tea went cold while I was watching you.", "Have you ever tried speedrunning a platformer?",
    "Why do cats knock things off the table?", "I started a new job on Monday and I am nervous.",
    "Tell us the story of how you became a fox.", "Should I buy a new keyboard or a new mouse?",
    "What is the best way to fall asleep quickly?", "Do you prefer mountains or the seaside?",
    "The thunderstorm outside is really loud tonight.", "How many languages can you speak?",
    "What is your opinion on pineapple juice?", "Can you give me a tip for drawing hands?",
    "My little brother says you are his favourite streamer.", "Is a hot dog a sandwich?",
    "What time does the stream usually end?", "I made pancakes shaped like foxes today.",
    "Who would win in a race, a turtle or a snail?", "Could you read the next chat message out loud?",
    "What are you most excited about this year?", "I lost my phone and found it in the fridge.",
    "How do you stay motivated on a bad day?", "Please say something nice about my cat Biscuit.",
)
"""Complete questions and statements, none of them among the bench's Piper lines (VOICE_LINES)."""

PAUSED_LINES = (
    ("I was thinking that maybe tomorrow", "we could play the new horror game."),
    ("Do you remember the song", "that you sang at the end of last stream?"),
    ("My friend told me that", "foxes can hear a watch ticking from far away."),
    ("What I really want to know is", "whether you like summer or winter better."),
    ("When I was a kid I always wanted", "a pet dragon that could fly."),
    ("Could you maybe explain", "why the sky turns orange at sunset?"),
    ("So the thing about my homework is", "that it is due in two hours."),
    ("If you could visit any country", "which one would you pick first?"),
    ("I think the best part of the stream", "was when you laughed at the goose."),
    ("Can you tell me about", "the strangest dream you have ever had?"),
    ("Yesterday my neighbour knocked on the door and", "asked if I had seen her parrot."),
    ("Before you go tonight", "could you recommend a good book?"),
    ("The reason I missed the stream was", "my internet went down all evening."),
    ("Do you know if there is", "a way to change the colour of my name?"),
    ("I tried your pancake recipe and", "it actually turned out pretty good."),
    ("What would happen if", "a fox and a cat had a staring contest?"),
    ("My sister and I were arguing about", "who is the better singer in your band."),
    ("Is it true that you", "once stayed up for two whole days?"),
    ("After school today I want to", "practise the guitar for an hour."),
    ("Can we please have", "another round of the drawing game?"),
    ("The weather here in Canada is", "so cold that my car will not start."),
    ("How long did it take you to", "learn all the words of that song?"),
    ("I have a question about", "the game you played last week."),
    ("Honestly I think that", "your new model looks really great."),
)
"""(first half, second half): spoken with a 300-700 ms silence between the halves."""

DIALECTS = ("en", "en-us", "en-gb-x-rp", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-029", "en-us-nyc")
VARIANTS = ("", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5", "klatt", "klatt2", "klatt3",
            "Andy", "Annie", "aunty", "belinda", "david", "edward", "grandpa", "linda", "max", "Mike", "paul",
            "quincy", "rob", "steph")
"""espeak-ng voice variants (`espeak-ng --voices=variant`) that sound like a person (no whisper, robot or demon)."""
SPEED_WPM = (135, 195)
PITCH = (25, 75)
PAUSE_MS = (300, 700)
LEAD_MS = 120
"""Silence before the speech in every clip (the sample offset where speech starts)."""
SILENCE_LEVEL = 2e-3
CACHE_VERSION = "1"  # unchanged: SSML clips have their own keys (the markup is the text)


class VoicesetError(RuntimeError):
    """The held-out set cannot be built; str() is one line naming the cause and the fix."""


@dataclass(frozen=True, slots=True)
class Voice:
    """An espeak-ng voice (dialect plus variant) with its speed (words per minute) and pitch (0-99)."""

    name: str
    speed: int
    pitch: int


@dataclass(frozen=True)
class HeldOutItem:
    """One utterance of the held-out set: 16 kHz audio plus what was said, by whom, and where in the clip."""

    label: str
    text: str
    voice: Voice
    audio: Audio = field(repr=False)
    first: str
    second: str
    pause_ms: int
    speech_start: int
    second_start: int | None
    """Sample offset where the second half starts (None for a sentence spoken without a pause)."""
    speech_end: int
    prosody: str = "separate"
    """How a paused item was spoken: "separate" halves, or "continuous" (one utterance with a break inside)."""

    @property
    def paused(self) -> bool:
        """Whether the sentence has a silence in the middle."""
        return self.second_start is not None

    def metadata(self) -> dict[str, Any]:
        """Everything but the audio, JSON-ready (the bench stores it in each of the item's turn records)."""
        return {"label": self.label, "text": self.text, "first": self.first, "second": self.second,
                "voice": self.voice.name, "speed": self.voice.speed, "pitch": self.voice.pitch,
                "pause_ms": self.pause_ms, "speech_start": self.speech_start, "second_start": self.second_start,
                "speech_end": self.speech_end, "prosody": self.prosody, "rate": PIPELINE_RATE}

    def voice_item(self) -> VoiceItem:
        """The item as the soak/bench driver feeds it to the scripted microphone."""
        return VoiceItem(label=self.label, audio=self.audio)


def default_cache_dir() -> Path:
    """$XDG_CACHE_HOME/kitsu/voiceset (or ~/.cache/...), else the temp dir when there is no home."""
    base = os.environ.get("XDG_CACHE_HOME") or (str(Path.home() / ".cache") if Path.home().is_dir() else "")
    return Path(base or tempfile.gettempdir()) / "kitsu" / "voiceset"


def pick_voices(count: int, seed: int) -> list[Voice]:
    """`count` voices spread over the dialects and variants (each dialect and variant used in turn, shuffled)."""
    rng = random.Random(seed)
    dialects, variants = list(DIALECTS), list(VARIANTS)
    rng.shuffle(dialects)
    rng.shuffle(variants)
    voices = []
    for index in range(count):
        dialect, variant = dialects[index % len(dialects)], variants[index % len(variants)]
        voices.append(Voice(f"{dialect}+{variant}" if variant else dialect, rng.randint(*SPEED_WPM), rng.randint(*PITCH)))
    return voices


def trim_silence(audio: Audio, level: float = SILENCE_LEVEL) -> Audio:
    """The clip without the leading and trailing silence espeak-ng puts around speech."""
    loud = np.flatnonzero(np.abs(audio) > level)
    if not loud.size:
        return audio[:0]
    return audio[int(loud[0]): int(loud[-1]) + 1]


def cache_key(text: str, voice: Voice) -> str:
    """The cache file's name for one synthesized text (content-keyed: same text and voice, same file)."""
    digest = hashlib.sha256(f"{CACHE_VERSION}|{voice.name}|{voice.speed}|{voice.pitch}|{text}".encode()).hexdigest()
    return f"{digest[:32]}.wav"


def run_espeak(text: str, voice: Voice) -> bytes:
    """WAV bytes of espeak-ng speaking `text` (SSML when it starts with <speak>); VoicesetError when it fails."""
    ssml = ["-m"] if text.startswith("<speak>") else []
    command = ["espeak-ng", *ssml, "-v", voice.name, "-s", str(voice.speed), "-p", str(voice.pitch), "--stdout", text]
    try:
        done = subprocess.run(command, capture_output=True, timeout=60, check=False)
    except FileNotFoundError:
        raise VoicesetError("espeak-ng is not installed (apt-get install espeak-ng, or bash scripts/dev.sh "
                            "install --with-tests)") from None
    except subprocess.TimeoutExpired:
        raise VoicesetError(f"espeak-ng took over 60 s for voice {voice.name}") from None
    if done.returncode != 0 or not done.stdout:
        reason = done.stderr.decode(errors="replace").strip().splitlines()
        raise VoicesetError(f"espeak-ng failed for voice {voice.name}: {reason[0] if reason else f'exit {done.returncode}'}")
    return done.stdout


def synthesize(text: str, voice: Voice, cache_dir: Path) -> Audio:
    """`text` spoken by `voice` as 16 kHz float32 without surrounding silence, from the cache when there."""
    path = cache_dir / cache_key(text, voice)
    if path.is_file():
        try:
            return load_wav(path)
        except (AudioFileError, OSError):
            path.unlink(missing_ok=True)  # a damaged cache file is made again
    cache_dir.mkdir(parents=True, exist_ok=True)
    raw = cache_dir / f".{path.stem}.{os.getpid()}.raw.wav"
    try:
        raw.write_bytes(run_espeak(text, voice))
        audio = trim_silence(load_wav(raw))
    except AudioFileError as exc:
        raise VoicesetError(f"espeak-ng gave unreadable audio for voice {voice.name}: {exc}") from None
    finally:
        raw.unlink(missing_ok=True)
    if not audio.size:
        raise VoicesetError(f"espeak-ng gave only silence for voice {voice.name}")
    write_wav(path, audio, PIPELINE_RATE)
    return load_wav(path)  # exactly what a later run reads back (16-bit)


def longest_gap(audio: Audio, level: float = SILENCE_LEVEL) -> tuple[int, int]:
    """(start, end) sample offsets of the longest silent run inside `audio` (between two loud samples)."""
    loud = np.flatnonzero(np.abs(audio) > level)
    if loud.size < 2:
        return 0, 0
    widest = int(np.argmax(np.diff(loud)))
    return int(loud[widest]) + 1, int(loud[widest + 1])


def build_continuous(label: str, voice: Voice, first: str, second: str, pause_ms: int, cache_dir: Path,
                     lead: Audio) -> HeldOutItem:
    """A paused sentence spoken in one breath: the first half keeps its mid-sentence intonation (SSML break)."""
    markup = f'<speak>{escape(first)} <break time="{pause_ms}ms"/> {escape(second)}</speak>'
    spoken = synthesize(markup, voice, cache_dir)
    gap_start, gap_end = longest_gap(spoken)
    measured = (gap_end - gap_start) * 1000 // PIPELINE_RATE
    audio = np.concatenate([lead, spoken])
    return HeldOutItem(label, f"{first} {second}", voice, audio, first, second, int(measured), lead.size,
                       lead.size + gap_end, audio.size, prosody="continuous")


def build_item(label: str, voice: Voice, first: str, second: str, pause_ms: int, cache_dir: Path,
               continuous: bool = False) -> HeldOutItem:
    """One clip: lead-in silence, the first half, and for a paused item the pause and the second half.

    A paused item is either two separately spoken halves around a silence (each half ends like a sentence)
    or, with `continuous`, one utterance with a break inside (the first half sounds unfinished, as a person's would).
    """
    lead = np.zeros(PIPELINE_RATE * LEAD_MS // 1000, dtype=np.float32)
    if not second:
        audio = np.concatenate([lead, synthesize(first, voice, cache_dir)])
        return HeldOutItem(label, first, voice, audio, first, "", 0, lead.size, None, audio.size)
    if continuous:
        return build_continuous(label, voice, first, second, pause_ms, cache_dir, lead)
    head, tail = synthesize(first, voice, cache_dir), synthesize(second, voice, cache_dir)
    gap = np.zeros(PIPELINE_RATE * pause_ms // 1000, dtype=np.float32)
    audio = np.concatenate([lead, head, gap, tail])
    return HeldOutItem(label, f"{first} {second}", voice, audio, first, second, pause_ms, lead.size,
                       lead.size + head.size + gap.size, audio.size)


def build_voiceset(seed: int = 12, cache_dir: Path | None = None, complete: int | None = None,
                   paused: int | None = None) -> list[HeldOutItem]:
    """The held-out set: complete lines and paused lines (all by default), interleaved, each with its own voice."""
    folder = cache_dir or default_cache_dir()
    lines = list(COMPLETE_LINES[:complete] if complete is not None else COMPLETE_LINES)
    pairs = list(PAUSED_LINES[:paused] if paused is not None else PAUSED_LINES)
    rng = random.Random(seed)
    voices = pick_voices(len(lines) + len(pairs), seed)
    specs: list[tuple[str, str, int]] = [(line, "", 0) for line in lines]
    specs += [(first, second, rng.randint(*PAUSE_MS)) for first, second in pairs]
    order = list(range(len(specs)))
    rng.shuffle(order)  # paused and complete items mixed, as in a show
    items = []
    for number, index in enumerate(order, start=1):
        first, second, pause_ms = specs[index]
        label = f"heldout-{number:02d}-{'paused' if second else 'complete'}"
        continuous = index % 2 == 1  # every other paused pair is spoken in one breath
        items.append(build_item(label, voices[index], first, second, pause_ms, folder, continuous))
    return items
